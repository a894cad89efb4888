// What every command shares: global options, the manifest, a connection, the output.
import type { Command } from 'commander';
import type pg from 'pg';
import { loadManifest, DEFAULT_MANIFEST_FILE, type Manifest } from '../config/manifest.js';
import { connect, maskSecrets, type ConnectionTarget } from '../db/connection.js';
import { assertPostgresUrl, commandLinePasswordWarning } from './database-url-checks.js';
import { createOutput, type Output } from './output.js';

export interface GlobalOptions {
  databaseUrl?: string;
  config: string;
  verbose: boolean;
}

export function globalOptions(command: Command): GlobalOptions {
  const opts = command.optsWithGlobals() as Partial<GlobalOptions>;
  return {
    databaseUrl: opts.databaseUrl,
    config: opts.config ?? DEFAULT_MANIFEST_FILE,
    verbose: Boolean(opts.verbose),
  };
}

export interface CommandContext {
  options: GlobalOptions;
  target: ConnectionTarget;
  output: Output;
  loadManifest(): Promise<Manifest>;
  /** Opens a connection; every connection opened here is closed when the command ends. */
  connect(): Promise<pg.Client>;
  close(): Promise<void>;
}

/**
 * Builds the context of one command run. `quiet` silences info messages (JSON output, CI).
 */
export function createContext(command: Command, quiet = false): CommandContext {
  const options = globalOptions(command);
  const target: ConnectionTarget = { databaseUrl: options.databaseUrl };
  const output = createOutput({
    verbose: options.verbose,
    quiet,
    mask: (text) => maskSecrets(text, target),
  });
  const clients: pg.Client[] = [];
  return {
    options,
    target,
    output,
    loadManifest: () => loadManifest(options.config),
    async connect() {
      const client = await connect(target);
      clients.push(client);
      return client;
    },
    async close() {
      await Promise.all(clients.splice(0).map((c) => c.end().catch(() => {})));
    },
  };
}

/** Before anything connects: PostgreSQL URLs only; a password on the command line is warned about. */
function checkTarget(ctx: CommandContext, env: NodeJS.ProcessEnv = process.env): void {
  const url = ctx.options.databaseUrl;
  if (url !== undefined) {
    assertPostgresUrl(url, '--database-url');
    const warning = commandLinePasswordWarning(url);
    if (warning) ctx.output.warn(warning);
  } else if (env.DATABASE_URL) {
    assertPostgresUrl(env.DATABASE_URL, 'DATABASE_URL');
  }
}

export interface ActionOptions<A> {
  /** Quiet mode for these arguments (--json…). */
  quiet?: (args: A) => boolean;
  /** False for commands that never use --database-url / DATABASE_URL (the demo brings its own server). */
  database?: boolean;
}

/**
 * Wraps a command's action: builds the context, runs it, maps errors to exit code 2 (or the
 * error's own), always closes connections. The returned number becomes the exit code.
 */
export function action<A extends unknown[]>(
  run: (ctx: CommandContext, ...args: A) => Promise<number>,
  opts: ActionOptions<A> = {},
): (...args: [...A, Command]) => Promise<void> {
  return async (...all) => {
    const command = all[all.length - 1] as Command;
    const args = all.slice(0, -1) as unknown as A;
    const quiet = opts.quiet?.(args) ?? false;
    const ctx = createContext(command, quiet);
    let code: number;
    try {
      if (opts.database !== false) checkTarget(ctx);
      code = await run(ctx, ...args);
    } catch (error) {
      ctx.output.error(error);
      code = (error as { exitCode?: number }).exitCode ?? 2;
      if (!(error instanceof Error) || !('exitCode' in error)) code = 2;
    } finally {
      await ctx.close();
    }
    setExitCode(command, code);
  };
}

const EXIT = Symbol('crm-tenancy exit code');
function setExitCode(command: Command, code: number): void {
  let root: Command = command;
  while (root.parent) root = root.parent;
  (root as unknown as Record<symbol, number>)[EXIT] = code;
}
export function getExitCode(program: Command): number {
  return (program as unknown as Record<symbol, number | undefined>)[EXIT] ?? 0;
}
