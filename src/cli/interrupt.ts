// Ctrl-C and SIGTERM: bars closed, queries cancelled, servers stopped, then one line saying what was interrupted and how to go on.
import type { EventEmitter } from 'node:events';
import { closeOpenConnections } from '../db/connection.js';
import type { ProgressEvent } from '../logger.js';
import type { Output } from './output.js';

/** The shell's convention: 128 + the signal's number. */
export const INTERRUPT_EXIT_CODES = { SIGINT: 130, SIGTERM: 143 } as const;
export type InterruptSignal = keyof typeof INTERRUPT_EXIT_CODES;

/** The latest progress event of each task (by kind and task), for the description. */
export type ProgressLog = ReadonlyMap<string, ProgressEvent>;

export interface InterruptScope {
  /**
   * What the one line says (after `interrupted: `) if the command is interrupted now: what stopped
   * where, and how to go on. Called at that moment, with the progress seen so far.
   */
  describe(fn: (progress: ProgressLog) => string): void;
  /** Stops something drawn on the terminal (a progress bar): done first, before the line is printed. */
  onStopDisplay(fn: () => void): void;
  /** Releases what the command holds (an embedded server, a scratch directory): after the connections close. */
  onCleanup(fn: () => unknown): void;
  /** Remembers a progress event (withProgress passes every event here). */
  record(event: ProgressEvent): void;
}

export interface InterruptWatch {
  scope: InterruptScope;
  /** True from the first signal on. */
  readonly interrupted: boolean;
  /** Resolves once the line is printed, just before `exit` is called. */
  readonly finished: Promise<void>;
  /** Stops listening for signals (the command ended by itself). */
  dispose(): void;
}

export interface WatchOptions {
  /** Where signals come from; tests pass an EventEmitter. */
  signals?: Pick<EventEmitter, 'on' | 'off'>;
  /** Called with 130 / 143 at the end; default process.exit. */
  exit?: (code: number) => void;
  /** Cancelling and closing connections and the cleanups together get at most this long. */
  cleanupTimeoutMs?: number;
}

const progressKey = (e: ProgressEvent) => `${e.kind} ${e.task}`;

/**
 * Watches for Ctrl-C (SIGINT) and SIGTERM while one command runs. On the first signal: everything the
 * command writes from then on is dropped (the work being torn down fails in many ways), progress bars
 * are stopped, every open connection's query is cancelled and the connection closed (the server rolls
 * back what was in flight and releases its locks now), the command's cleanups run, then one line:
 * `interrupted: backfill run backfill-… stopped after 12,000 rows; run the same command again to
 * resume`, and exit 130 (143 for SIGTERM). A second signal exits at once.
 */
export function watchInterrupts(output: Output, command: string, options: WatchOptions = {}): InterruptWatch {
  const signals = options.signals ?? process;
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const cleanupTimeoutMs = options.cleanupTimeoutMs ?? 10_000;
  let describe: (progress: ProgressLog) => string = () => `${command} stopped; run the same command again`;
  const displays: (() => void)[] = [];
  const cleanups: (() => unknown)[] = [];
  const progress = new Map<string, ProgressEvent>();
  let interrupted = false;
  let markFinished!: () => void;
  const finished = new Promise<void>((resolve) => (markFinished = resolve));
  // Errors of the work being torn down (a connection terminated under a query) are expected now.
  const ignore = () => {};

  const tearDown = async (): Promise<void> => {
    await closeOpenConnections(Math.min(3000, cleanupTimeoutMs));
    for (const cleanup of cleanups) await Promise.resolve().then(cleanup).catch(() => {});
  };

  const onSignal = async (signal: InterruptSignal): Promise<void> => {
    const code = INTERRUPT_EXIT_CODES[signal];
    if (interrupted) {
      exit(code);
      return;
    }
    interrupted = true;
    let line: string;
    try {
      line = describe(progress);
    } catch {
      line = `${command} stopped`;
    }
    output.silence();
    process.on('uncaughtException', ignore);
    process.on('unhandledRejection', ignore);
    for (const stop of displays) {
      try {
        stop();
      } catch {
        /* a bar that cannot stop must not keep us from exiting */
      }
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([tearDown(), new Promise<void>((resolve) => (timer = setTimeout(resolve, cleanupTimeoutMs)))]);
    clearTimeout(timer);
    output.stderr.write(`${output.color.yellow('interrupted:')} ${line}\n`);
    markFinished();
    exit(code);
    // Only reached when `exit` returns (tests).
    process.off('uncaughtException', ignore);
    process.off('unhandledRejection', ignore);
  };

  const handlers = {
    SIGINT: () => void onSignal('SIGINT'),
    SIGTERM: () => void onSignal('SIGTERM'),
  };
  for (const [signal, handler] of Object.entries(handlers)) signals.on(signal, handler);

  return {
    scope: {
      describe: (fn) => {
        describe = fn;
      },
      onStopDisplay: (fn) => displays.push(fn),
      onCleanup: (fn) => cleanups.push(fn),
      record: (event) => {
        progress.set(progressKey(event), event);
      },
    },
    get interrupted() {
      return interrupted;
    },
    finished,
    dispose: () => {
      for (const [signal, handler] of Object.entries(handlers)) signals.off(signal, handler);
    },
  };
}

/** A number for the one line: `12,000`. */
export const count = (n: number): string => n.toLocaleString('en-US');
