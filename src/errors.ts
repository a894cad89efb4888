// The one error type of the toolkit: a stable code, the exit code it maps to, and the server's details.

/** Exit codes shared by every command. */
export const ExitCode = {
  /** The command did what it was asked and its gate passed. */
  Ok: 0,
  /** The command ran, but its gate failed (findings at or above the threshold, a step refused). */
  GateFailed: 1,
  /** The command could not run (usage, manifest, connection, missing privilege). */
  CouldNotRun: 2,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export type TenancyErrorCode =
  | 'usage'
  | 'manifest'
  | 'manifest-live'
  | 'connection'
  | 'privilege'
  | 'unknown-table'
  | 'lock-timeout'
  | 'locked'
  | 'database'
  /** The server is a read-only hot standby and the command writes or probes. */
  | 'read-only'
  | 'io'
  | 'internal';

export interface TenancyErrorOptions {
  cause?: unknown;
  /** What the user should do about it. */
  hint?: string;
  /** Every problem, when there are several (a manifest reports all of them at once). */
  problems?: readonly string[];
  exitCode?: ExitCode;
}

/**
 * A failure that stops a command. `code` is stable (scripts may rely on it); `message` is one line
 * naming what is wrong; `hint` says what to do.
 */
export class TenancyError extends Error {
  readonly code: TenancyErrorCode;
  readonly hint?: string;
  readonly problems: readonly string[];
  readonly exitCode: ExitCode;

  constructor(code: TenancyErrorCode, message: string, options: TenancyErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TenancyError';
    this.code = code;
    this.hint = options.hint;
    this.problems = options.problems ?? [];
    this.exitCode = options.exitCode ?? ExitCode.CouldNotRun;
  }
}

/** The fields node-postgres puts on an error that came from the server. */
export interface PgServerError {
  code: string;
  message: string;
  detail?: string;
  hint?: string;
  position?: string;
  where?: string;
  schema?: string;
  table?: string;
  column?: string;
  constraint?: string;
}

export function isPgServerError(error: unknown): error is PgServerError & Error {
  return (
    error instanceof Error &&
    typeof (error as { code?: unknown }).code === 'string' &&
    /^[0-9A-Z]{5}$/.test((error as unknown as { code: string }).code) &&
    'severity' in error
  );
}

/** SQLSTATEs that mean "you may not": the caller lacks a privilege or is not the owner. */
const PRIVILEGE_CODES = new Set(['42501', '42000']);

/**
 * Turns any error into a TenancyError with a clear message. Server errors keep their SQLSTATE,
 * detail and hint; connection failures become `connection` errors (exit 2).
 */
export function toTenancyError(error: unknown, context?: string): TenancyError {
  if (error instanceof TenancyError) return error;
  const prefix = context ? `${context}: ` : '';
  if (isPgServerError(error)) {
    const parts = [`${prefix}${error.message} (SQLSTATE ${error.code})`];
    if (error.detail) parts.push(`detail: ${error.detail}`);
    const code: TenancyErrorCode = PRIVILEGE_CODES.has(error.code)
      ? 'privilege'
      : error.code === '55P03'
        ? 'lock-timeout'
        : error.code === '3D000' || error.code === '28000' || error.code === '28P01'
          ? 'connection'
          : 'database';
    const hint =
      error.hint ??
      (code === 'privilege'
        ? 'connect as a role that owns the objects or has the privilege named above'
        : code === 'lock-timeout'
          ? 'another session holds a conflicting lock; retry when the application is quieter or raise --lock-timeout'
          : undefined);
    return new TenancyError(code, parts.join('; '), { cause: error, hint });
  }
  const err = error as NodeJS.ErrnoException | undefined;
  const netCodes = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ETIMEDOUT', 'ECONNRESET', 'EAI_AGAIN']);
  if (err && typeof err.code === 'string' && netCodes.has(err.code)) {
    return new TenancyError('connection', `${prefix}cannot reach the database (${err.code})`, {
      cause: error,
      hint: 'check --database-url / DATABASE_URL / PGHOST and PGPORT, and that the server is running',
    });
  }
  if (error instanceof AggregateError && error.errors.length > 0) {
    return toTenancyError(error.errors[0], context);
  }
  const message = error instanceof Error ? error.message : String(error);
  return new TenancyError('internal', `${prefix}${message}`, { cause: error });
}
