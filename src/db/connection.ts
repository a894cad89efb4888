// Connecting: --database-url, else DATABASE_URL, else libpq's PG* variables; passwords never shown.
import pg from 'pg';
import { TenancyError, toTenancyError } from '../errors.js';

export type Client = pg.Client;
/** Anything that can run a query: a client, a pooled client or a pool. */
export type Queryable = Pick<pg.ClientBase, 'query'>;

export interface ConnectionTarget {
  /** A postgres:// URL. When absent, DATABASE_URL, then PGHOST/PGPORT/PGUSER/PGDATABASE/PGPASSWORD. */
  databaseUrl?: string;
  /** Shown in pg_stat_activity. */
  applicationName?: string;
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

/** Runs fn with a fresh connection and always closes it. */
export async function withConnection<T>(target: ConnectionTarget, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = await connect(target);
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

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
  if (options.client) return fn(options.client);
  return withConnection({ databaseUrl: options.databaseUrl, applicationName }, fn);
}
