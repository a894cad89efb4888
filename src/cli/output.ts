// Everything the CLI prints: machine-readable data to stdout, messages and progress to stderr.
import { Chalk, type ChalkInstance } from 'chalk';
import { TenancyError, toTenancyError } from '../errors.js';
import type { Logger } from '../logger.js';
import { connectionHint } from './error-hints.js';

export interface Output {
  /** Colours for stderr messages (none unless stderr is a TTY and NO_COLOR is unset). */
  color: ChalkInstance;
  /** Colours for stdout tables (none unless stdout is a TTY and NO_COLOR is unset). */
  stdoutColor: ChalkInstance;
  /** True when stderr is an interactive terminal (progress bars allowed). */
  interactive: boolean;
  verbose: boolean;
  /** Quiet mode (--json, CI): info messages suppressed, warnings and errors kept. */
  quiet: boolean;
  /** Writes data to stdout. */
  data(text: string): void;
  info(message: string): void;
  warn(message: string): void;
  debug(message: string): void;
  error(error: unknown): void;
  /** A Logger for core code that writes through this output. */
  logger: Logger;
  /** The stream messages and progress go to (stderr unless a test injects one). */
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  /**
   * Sends every stderr line through `sink` until called again with undefined: while a progress
   * bar is drawn, a line written straight to the terminal would land on top of it.
   */
  routeLines(sink: ((text: string) => void) | undefined): void;
  /**
   * Drops everything written from now on (stdout and stderr): after Ctrl-C the work being torn down
   * fails in many ways, and only the one line saying what was interrupted may be printed.
   */
  silence(): void;
}

export interface OutputOptions {
  verbose?: boolean;
  quiet?: boolean;
  stdout?: NodeJS.WritableStream & { isTTY?: boolean };
  stderr?: NodeJS.WritableStream & { isTTY?: boolean };
  env?: NodeJS.ProcessEnv;
  /** Extra masking applied to every message (passwords). */
  mask?: (text: string) => string;
}

export function colorAllowed(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0') return true;
  return Boolean(stream.isTTY) && env.TERM !== 'dumb';
}

export function createOutput(options: OutputOptions = {}): Output {
  const stdout = options.stdout ?? process.stdout;
  const stderr = options.stderr ?? process.stderr;
  const env = options.env ?? process.env;
  const mask = options.mask ?? ((t: string) => t);
  const color = new Chalk({ level: colorAllowed(stderr, env) ? 1 : 0 });
  const stdoutColor = new Chalk({ level: colorAllowed(stdout, env) ? 1 : 0 });
  const verbose = options.verbose ?? false;
  const quiet = options.quiet ?? false;
  let sink: ((text: string) => void) | undefined;
  let silenced = false;
  const line = (text: string) => {
    if (silenced) return;
    const masked = `${mask(text)}\n`;
    if (sink) sink(masked);
    else stderr.write(masked);
  };
  const out: Output = {
    color,
    stdoutColor,
    interactive: Boolean(stderr.isTTY) && env.CI === undefined,
    verbose,
    quiet,
    data: (text) => {
      if (silenced) return;
      stdout.write(mask(text.endsWith('\n') ? text : `${text}\n`));
    },
    info: (message) => {
      if (!quiet) line(message);
    },
    warn: (message) => line(`${color.yellow('warning:')} ${message}`),
    debug: (message) => {
      if (verbose) line(color.dim(message));
    },
    error: (error) => {
      for (const text of renderError(error, verbose, color)) line(text);
    },
    logger: {
      info: (m) => out.info(m),
      warn: (m) => out.warn(m),
      debug: (m) => out.debug(m),
    },
    stderr,
    routeLines: (next) => {
      sink = next;
    },
    silence: () => {
      silenced = true;
    },
  };
  return out;
}

/** One clear line (plus problems, hint, and with --verbose the stack and causes). */
export function renderError(error: unknown, verbose: boolean, color: ChalkInstance): string[] {
  const err = toTenancyError(error);
  const lines = [`${color.red('error:')} ${err.message}`];
  for (const problem of err.problems) lines.push(`  - ${problem}`);
  const hint = connectionHint(err) ?? err.hint;
  if (hint) lines.push(`${color.cyan('hint:')} ${hint}`);
  if (verbose) {
    let cause: unknown = err instanceof TenancyError && err.cause ? err.cause : err;
    const seen = new Set<unknown>();
    while (cause instanceof Error && !seen.has(cause)) {
      seen.add(cause);
      if (cause.stack) lines.push(color.dim(cause.stack));
      cause = (cause as { cause?: unknown }).cause;
    }
  } else if (err.code === 'internal') {
    lines.push(color.dim('(run again with --verbose for the stack trace)'));
  }
  return lines;
}
