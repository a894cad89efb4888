// Hints that say what to run when the server turns us away: no such database or role, wrong password, no privilege.
import { ident } from '../db/quote.js';
import { isPgServerError, type PgServerError } from '../errors.js';
import { shellCommand } from '../shell-quote.js';

/** The server error somewhere in the cause chain, if any. */
function serverError(error: unknown): PgServerError | undefined {
  const seen = new Set<unknown>();
  for (let e = error; e instanceof Error && !seen.has(e); e = (e as { cause?: unknown }).cause) {
    seen.add(e);
    if (isPgServerError(e)) return e;
  }
  return undefined;
}


/**
 * What to run for the connection and privilege failures people hit first, or undefined to keep the
 * error's own hint.
 *
 * @example connectionHint(err) // => 'create it: createdb sales_crm (…), or fix the database name …'
 */
export function connectionHint(error: unknown): string | undefined {
  const pg = serverError(error);
  // The server's own hint, when it gives one, is better than ours.
  if (!pg || pg.hint) return undefined;
  const quoted = /"((?:[^"]|"")*)"/.exec(pg.message)?.[1]?.replace(/""/g, '"');
  switch (pg.code) {
    case '3D000':
      return quoted
        ? `create it: ${shellCommand('createdb', quoted)} (same host, port and user; the user needs CREATEDB), ` +
            'or fix the database name in --database-url / DATABASE_URL / PGDATABASE'
        : undefined;
    case '28000':
      if (/^role ".*" does not exist/.test(pg.message) && quoted) {
        return (
          `create it as a superuser: ${shellCommand('psql', '-c', `CREATE ROLE ${ident(quoted)} LOGIN`)} (then set its password with \\password), ` +
          'or fix the user name in --database-url / DATABASE_URL / PGUSER'
        );
      }
      if (/pg_hba\.conf/.test(pg.message)) {
        return 'the server does not accept this host/user/database: add a line for it to pg_hba.conf and reload (SELECT pg_reload_conf())';
      }
      return undefined;
    case '28P01':
      return 'check the password: PGPASSWORD, ~/.pgpass (host:port:database:user:password, mode 0600) or the one in DATABASE_URL';
    case '42501': {
      const on = /permission denied for (table|schema|sequence|function|database) (\S+)/.exec(pg.message);
      if (on) {
        const privilege = { table: 'SELECT', schema: 'USAGE', sequence: 'USAGE', function: 'EXECUTE', database: 'CONNECT' }[on[1]];
        return (
          `connect as a role that may, or have the owner run: GRANT ${privilege} ON ${on[1].toUpperCase()} ${on[2]} TO <your role> ` +
          '(the commands that change the database need the owner; audit and verify need a superuser or BYPASSRLS role)'
        );
      }
      const owner = /must be owner of (\w+) (\S+)/.exec(pg.message);
      if (owner) return `only the owner of ${owner[1]} ${owner[2]} may do this: connect as that role (or a member of it)`;
      return undefined;
    }
    default:
      return undefined;
  }
}
