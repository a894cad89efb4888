// Connecting: --database-url, else DATABASE_URL, else libpq's PG* variables; passwords never shown.
import net from 'node:net';
import path from 'node:path';
import pg from 'pg';
import { TenancyError, isPgServerError, toTenancyError } from '../errors.js';
import { describeBlockers, findLockBlockers } from './lock-blockers.js';

export type Client = pg.Client;
/** Anything that can run a query: a client, a pooled client or a pool. */
export type Queryable = Pick<pg.ClientBase, 'query'>;

export interface ConnectionTarget {
  /** A postgres:// URL. When absent, DATABASE_URL, then PGHOST/PGPORT/PGUSER/PGDATABASE/PGPASSWORD. */
  databaseUrl?: string;
  /** Shown in pg_stat_activity. */
  applicationName?: string;
  /** The session's lock_timeout (ms); default CRM_TENANCY_LOCK_TIMEOUT_MS, else 5000. */
  lockTimeoutMs?: number;
}

/**
 * Every session we open waits at most this long for a lock unless a step sets its own (batches,
 * migration statements): a catalog read behind another session's ACCESS EXCLUSIVE lock ends in a
 * clear error naming that session instead of hanging (lock_timeout 0 waits forever).
 */
export const DEFAULT_SESSION_LOCK_TIMEOUT_MS = 5_000;

/** The session lock_timeout for a target: its own, else CRM_TENANCY_LOCK_TIMEOUT_MS, else the default. */
export function sessionLockTimeoutMs(target: ConnectionTarget, env: NodeJS.ProcessEnv = process.env): number {
  if (target.lockTimeoutMs !== undefined) return target.lockTimeoutMs;
  const fromEnv = env.CRM_TENANCY_LOCK_TIMEOUT_MS;
  if (fromEnv !== undefined && /^\d+$/.test(fromEnv)) return Number(fromEnv);
  return DEFAULT_SESSION_LOCK_TIMEOUT_MS;
}

/** The URL (or undefined for PG* variables) a target resolves to. */
export function resolveDatabaseUrl(target: ConnectionTarget, env: NodeJS.ProcessEnv = process.env): string | undefined {
  return target.databaseUrl || env.DATABASE_URL || undefined;
}

/** Replaces the password in a connection URL (or keyword string) with `***`. */
export function maskUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    for (const key of ['password', 'sslpassword']) {
      if (parsed.searchParams.has(key)) parsed.searchParams.set(key, '***');
    }
    return parsed.toString();
  } catch {
    return url.replace(/(password\s*=\s*)(\S+)/gi, '$1***').replace(/(:\/\/[^:/@]*:)[^@]*@/, '$1***@');
  }
}

/** Removes every occurrence of the target's password from a text (error messages, logs). */
export function maskSecrets(text: string, target: ConnectionTarget, env: NodeJS.ProcessEnv = process.env): string {
  const secrets = new Set<string>();
  const url = resolveDatabaseUrl(target, env);
  if (url) {
    try {
      const parsed = new URL(url);
      if (parsed.password) {
        secrets.add(parsed.password);
        secrets.add(decodeURIComponent(parsed.password));
      }
    } catch {
      /* not a URL: nothing to extract */
    }
    text = text.split(url).join(maskUrl(url));
  }
  if (env.PGPASSWORD) secrets.add(env.PGPASSWORD);
  let out = text;
  for (const secret of secrets) if (secret.length >= 3) out = out.split(secret).join('***');
  return out;
}

/** A human description of where we connect, password masked. */
export function describeTarget(target: ConnectionTarget, env: NodeJS.ProcessEnv = process.env): string {
  const url = resolveDatabaseUrl(target, env);
  if (url) return maskUrl(url);
  const host = env.PGHOST ?? 'localhost';
  const port = env.PGPORT ?? '5432';
  const user = env.PGUSER ?? env.USER ?? '';
  const db = env.PGDATABASE ?? user;
  return `postgresql://${user ? `${user}@` : ''}${host}:${port}/${db} (from PG* variables)`;
}

/** pg client configuration for a target. */
export function clientConfig(target: ConnectionTarget, env: NodeJS.ProcessEnv = process.env): pg.ClientConfig {
  const url = resolveDatabaseUrl(target, env);
  return {
    ...(url ? { connectionString: url } : {}),
    application_name: target.applicationName ?? 'crm-tenancy',
    connectionTimeoutMillis: 10_000,
  };
}

/**
 * Opens one connection. Failures become a `connection` TenancyError (exit 2) naming the target,
 * password masked.
 */
export async function connect(target: ConnectionTarget): Promise<pg.Client> {
  const client = new pg.Client(clientConfig(target));
  // An idle client whose server goes away must not crash the process.
  client.on('error', () => {});
  try {
    await client.connect();
    // Not a startup option: that would replace an `options` the URL itself carries.
    await client.query(`SELECT pg_catalog.set_config('lock_timeout', $1, false)`, [`${sessionLockTimeoutMs(target)}ms`]);
    openClients.add(client);
    client.once('end', () => openClients.delete(client));
    return client;
  } catch (error) {
    await client.end().catch(() => {});
    const wrapped = toTenancyError(error);
    const where = describeTarget(target);
    throw new TenancyError('connection', maskSecrets(`cannot connect to ${where}: ${wrapped.message}`, target), {
      cause: error,
      hint:
        wrapped.hint ??
        'pass --database-url postgres://user@host:port/db, or set DATABASE_URL or the PG* variables',
    });
  }
}

/** Every connection `connect` opened that is not closed yet: Ctrl-C cancels and closes them. */
const openClients = new Set<pg.Client>();

/** The backend pids of the open connections (this process's own sessions, never the blockers it reports). */
export function openConnectionPids(): number[] {
  return [...openClients].map((c) => (c as unknown as { processID: number | null }).processID).filter((p): p is number => p !== null);
}

/**
 * Sends PostgreSQL's cancel request for a client's running query, the way psql does on Ctrl-C: a
 * separate short connection carrying the backend pid and secret key (no login needed). Resolves
 * when the server has taken it, or after a second.
 */
function cancelQuery(client: pg.Client): Promise<void> {
  const { processID, secretKey, host, port } = client as unknown as { processID: number | null; secretKey: number | null; host: string; port: number };
  if (processID === null || secretKey === null) return Promise.resolve();
  return new Promise((resolve) => {
    const socket = host.startsWith('/') ? net.connect(path.join(host, `.s.PGSQL.${port}`)) : net.connect(port, host);
    const done = () => {
      socket.destroy();
      resolve();
    };
    socket.setTimeout(1000, done);
    socket.on('error', done);
    socket.on('close', done);
    socket.on('connect', () => {
      // CancelRequest: length 16, code 80877102, pid, secret key.
      const message = Buffer.alloc(16);
      message.writeInt32BE(16, 0);
      message.writeInt32BE(80877102, 4);
      message.writeInt32BE(processID, 8);
      message.writeInt32BE(secretKey, 12);
      socket.end(message);
    });
  });
}

/** From now on the client sends nothing more: a statement fails at once (promise or callback form). */
function refuseStatements(client: pg.Client): void {
  const refused = () => new TenancyError('connection', 'the connection is closing: the command was interrupted');
  (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
    const callback = args.at(-1);
    if (typeof callback === 'function') {
      process.nextTick(() => callback(refused()));
      return undefined;
    }
    return Promise.reject(refused());
  };
}

/**
 * Cancels the running query of every open connection and closes them all (at most `timeoutMs`):
 * the server rolls back what was in flight and releases the sessions' locks now, not when a long
 * statement would have ended. After this, further queries of the work being torn down fail at once.
 */
export async function closeOpenConnections(timeoutMs = 3000): Promise<void> {
  const clients = [...openClients];
  openClients.clear();
  // First, before any cancel lands: the cancelled work's error handlers run while the other
  // connections are still open, and one of them (withRun marking its run `failed`) must not get a
  // statement in — an interrupted run stays `running`, which is what the rerun resumes.
  for (const client of clients) refuseStatements(client);
  const work = (async () => {
    await Promise.all(clients.map(cancelQuery));
    await Promise.all(clients.map((c) => c.end().catch(() => {})));
  })();
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([work, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
  clearTimeout(timer);
}

/** Runs fn with a fresh connection and always closes it; a lock timeout names who held the lock. */
export async function withConnection<T>(target: ConnectionTarget, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = await connect(target);
  try {
    return await fn(client);
  } catch (error) {
    throw await explainLockTimeout(client, error, sessionLockTimeoutMs(target));
  } finally {
    await client.end().catch(() => {});
  }
}

function isLockTimeoutError(error: unknown): boolean {
  if (error instanceof TenancyError) return error.code === 'lock-timeout' && !/held by pid|has ended since/.test(error.message);
  return isPgServerError(error) && error.code === '55P03';
}

/**
 * A lock timeout that reached the top of a command becomes one message naming the sessions holding
 * strong locks in this database (read right after, on the same connection), with what to do.
 * Any other error is returned as it is.
 */
export async function explainLockTimeout(client: Queryable, error: unknown, timeoutMs: number): Promise<unknown> {
  if (!isLockTimeoutError(error)) return error;
  await client.query('ROLLBACK').catch(() => {});
  const blockers = await findLockBlockers(client).catch(() => undefined);
  const base = error instanceof Error ? error.message : String(error);
  const who = blockers === undefined ? 'the holder could not be read' : describeBlockers(blockers);
  const pid = blockers?.[0]?.pid;
  // A step that retried and gave up keeps its exit code (1: the step did not happen); a plain
  // lock wait that reached the top is exit 2 (could not run).
  const exitCode = error instanceof TenancyError ? error.exitCode : undefined;
  const waited = error instanceof TenancyError ? 'the last attempt waited' : `waited for a lock longer than lock_timeout (${timeoutMs} ms)`;
  return new TenancyError('lock-timeout', `${base} — ${waited}; held by ${who}`, {
    cause: error,
    exitCode,
    hint:
      pid !== undefined
        ? `wait for pid ${pid} to finish (or end it: SELECT pg_terminate_backend(${pid})), or wait longer: --lock-wait MS / CRM_TENANCY_LOCK_TIMEOUT_MS`
        : 'run again; to wait longer: --lock-wait MS / CRM_TENANCY_LOCK_TIMEOUT_MS',
  });
}

/** The one read-only check (a hot standby, or default_transaction_read_only), re-exported for callers of this module. */
export { assertWritable } from './read-only.js';

/** What every command's options accept: an open client to reuse, or where to connect. */
export interface ConnectionOptions<C extends Queryable = pg.Client> {
  /** A connected client to use (left open). When absent, a connection is opened and closed. */
  client?: C;
  /** A postgres:// URL; when absent, DATABASE_URL, then the PG* variables. */
  databaseUrl?: string;
}

/** Uses the caller's client, or opens one named `applicationName` (in pg_stat_activity) and closes it. */
export async function withClient<T, C extends Queryable = pg.Client>(
  options: ConnectionOptions<C>,
  applicationName: string,
  fn: (client: C | pg.Client) => Promise<T>,
): Promise<T> {
  const given = options.client;
  if (!given) return withConnection({ databaseUrl: options.databaseUrl, applicationName }, fn);
  try {
    return await fn(given);
  } catch (error) {
    throw await explainLockTimeout(given, error, sessionLockTimeoutMs({}));
  }
}
