// Checks on the connection URL before anything connects: PostgreSQL only, and no password on the command line.
import { TenancyError } from '../errors.js';

/** The schemes libpq and node-postgres accept for a connection URI. */
const POSTGRES_SCHEMES = new Set(['postgres', 'postgresql']);

/**
 * Refuses a URL for another database (mysql://, sqlserver://…) with a usage error (exit 2), before
 * a driver tries to make sense of it. A URL without a scheme (a socket directory, a keyword string)
 * is left to node-postgres.
 *
 * @example assertPostgresUrl('mysql://root@db/crm', '--database-url') // throws usage
 */
export function assertPostgresUrl(url: string, source: string): void {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(url)?.[1]?.toLowerCase();
  if (scheme === undefined || POSTGRES_SCHEMES.has(scheme)) return;
  // "localhost:5432" parses as a scheme too: only refuse what is written as a URL.
  if (!url.slice(scheme.length + 1).startsWith('//')) return;
  throw new TenancyError('usage', `${source} is a ${scheme}:// URL: crm-tenancy works with PostgreSQL only`, {
    hint: 'pass postgres://user@host:port/database (or postgresql://…)',
  });
}

/** True when the URL carries a password (in the user-info part or as a `password` parameter). */
export function urlHasPassword(url: string): boolean {
  try {
    const parsed = new URL(url);
    return parsed.password !== '' || parsed.searchParams.has('password');
  } catch {
    return /:\/\/[^/@:]*:[^@/]+@/.test(url) || /[?&]password=/.test(url);
  }
}

/** The warning for a password given in --database-url, or undefined when there is none. */
export function commandLinePasswordWarning(url: string | undefined): string | undefined {
  if (url === undefined || !urlHasPassword(url)) return undefined;
  return (
    'the password in --database-url is visible to every user of this machine (ps, /proc/PID/cmdline) ' +
    'and stays in your shell history: put it in PGPASSWORD, ~/.pgpass or DATABASE_URL instead'
  );
}
