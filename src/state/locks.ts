// The advisory locks that keep crm-tenancy commands from running over each other: one key scheme,
// (hashtext('crm-tenancy'), hashtext('<scope>:<state schema>[:<schema>]')), session level, so a killed
// process loses its lock with its session and a rerun may resume at once.
import type pg from 'pg';
import { TenancyError } from '../errors.js';

/** What a lock keeps to one at a time: migrations; policy applies; the data commands (backfill, dedupe, undo) on a schema. */
export type LockScope = 'migrate' | 'policies' | 'data';

/** Who holds an advisory lock. */
export interface LockHolder {
  pid: number;
  applicationName: string;
  user: string;
  since: Date | null;
  clientAddr: string | null;
}

const LOCK_NAMESPACE = 'crm-tenancy';

function lockKey(scope: LockScope, stateSchema: string, schema?: string): string {
  return schema === undefined ? `${scope}:${stateSchema}` : `${scope}:${stateSchema}:${schema}`;
}

/** Tries the lock (session level); null when taken, else who holds it. */
export async function tryAdvisoryLock(
  client: pg.ClientBase,
  scope: LockScope,
  stateSchema: string,
  schema?: string,
): Promise<LockHolder | null> {
  const key = lockKey(scope, stateSchema, schema);
  const r = await client.query<{ ok: boolean }>(`SELECT pg_try_advisory_lock(hashtext($1), hashtext($2)) AS ok`, [
    LOCK_NAMESPACE,
    key,
  ]);
  if (r.rows[0].ok) return null;
  const holder = await client.query(
    `SELECT a.pid, coalesce(a.application_name, '') AS app, coalesce(a.usename::text, '') AS usr,
            a.backend_start, a.client_addr::text AS addr
       FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
        AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())
        AND l.classid = (hashtext($1)::int8 & 4294967295)::oid AND l.objid = (hashtext($2)::int8 & 4294967295)::oid
      LIMIT 1`,
    [LOCK_NAMESPACE, key],
  );
  const row = holder.rows[0];
  return row
    ? { pid: row.pid, applicationName: row.app, user: row.usr, since: row.backend_start, clientAddr: row.addr }
    : { pid: 0, applicationName: '(unknown: it ended just now)', user: '', since: null, clientAddr: null };
}

/** Releases a lock taken by tryAdvisoryLock on the same session. */
export async function releaseAdvisoryLock(
  client: pg.ClientBase,
  scope: LockScope,
  stateSchema: string,
  schema?: string,
): Promise<void> {
  await client.query(`SELECT pg_advisory_unlock(hashtext($1), hashtext($2))`, [
    LOCK_NAMESPACE,
    lockKey(scope, stateSchema, schema),
  ]);
}

/**
 * Takes the lock that keeps backfill, dedupe and undo on one schema from running at the same time;
 * a `locked` TenancyError (exit 2) naming the holder when another has it. Returns the release.
 */
export async function acquireDataLock(
  client: pg.ClientBase,
  stateSchema: string,
  schema: string,
  command: string,
): Promise<() => Promise<void>> {
  const holder = await tryAdvisoryLock(client, 'data', stateSchema, schema);
  if (holder) {
    throw new TenancyError('locked', `${command}: another backfill, dedupe or undo is running on schema ${schema} (pid ${holder.pid}, ${holder.applicationName || 'no application name'})`, {
      hint: `wait for it to finish (pg_stat_activity, pid ${holder.pid}), then run again`,
    });
  }
  return async () => {
    await releaseAdvisoryLock(client, 'data', stateSchema, schema).catch(() => {});
  };
}
