// The logger core code writes to: the CLI decides where it goes (stderr, quiet in --json mode).

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  debug(message: string): void;
}

/** Discards everything: the default for library callers. */
export const silentLogger: Logger = { info() {}, warn() {}, debug() {} };

/** Collects messages in memory; handy for callers that render them later. */
export function memoryLogger(): Logger & { lines: { level: string; message: string }[] } {
  const lines: { level: string; message: string }[] = [];
  return {
    lines,
    info: (message) => lines.push({ level: 'info', message }),
    warn: (message) => lines.push({ level: 'warn', message }),
    debug: (message) => lines.push({ level: 'debug', message }),
  };
}

/** Progress of a long job, reported by core code; the CLI draws a bar from it on a TTY. */
export interface ProgressEvent {
  /**
   * What kind of work this is, so a renderer never parses `task`: a backfill batch walk, a migration
   * file's statements, a concurrent index build, verify's probes, dedupe's groups, the audit's queries.
   */
  kind: 'backfill' | 'migrate-file' | 'index-build' | 'verify' | 'dedupe' | 'audit';
  /** What is being worked on, e.g. a table name. */
  task: string;
  done: number;
  total?: number;
  /** Free-form extra values (rows/s, phase name…). */
  detail?: Record<string, string | number>;
}
export type ProgressListener = (event: ProgressEvent) => void;
