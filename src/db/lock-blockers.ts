// Who holds the locks a statement waited for: named in lock-timeout errors and retry warnings.
import type pg from 'pg';

/** A session holding a lock that can block others' catalog reads or writes. */
export interface LockBlocker {
  pid: number;
  /** The relation it locks (schema-qualified), when the lock is on one. */
  relation: string | null;
  mode: string;
  applicationName: string;
  state: string;
  /** The start of its current (or last) statement, one line, at most 120 characters. */
  query: string;
  /** Seconds since its transaction began. */
  xactSeconds: number | null;
}

/**
 * Sessions (not this one) holding a strong relation lock: ShareRowExclusive, Exclusive or
 * AccessExclusive (what `LOCK TABLE`, `ALTER TABLE`, `VACUUM FULL`, `TRUNCATE` take) — the ones
 * that make a catalog read or a short write wait. With `waiterPid`, exactly the sessions that block
 * that backend (pg_blocking_pids). Read after a lock timeout, the holder may have ended: an empty
 * list then says so.
 */
export async function findLockBlockers(client: Pick<pg.ClientBase, "query">, waiterPid?: number): Promise<LockBlocker[]> {
  const { rows } = await client.query(
    `SELECT a.pid, l.relation::regclass::text AS relation, l.mode, coalesce(a.application_name, '') AS app,
            coalesce(a.state, '') AS state,
            left(regexp_replace(coalesce(a.query, ''), '\\s+', ' ', 'g'), 120) AS query,
            extract(epoch FROM clock_timestamp() - a.xact_start)::int AS xact_seconds
       FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
      WHERE l.granted AND a.pid <> pg_backend_pid()
        AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())
        AND CASE WHEN $1::int IS NULL
                 THEN l.locktype = 'relation' AND l.mode IN ('ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock')
                 ELSE a.pid = ANY (pg_catalog.pg_blocking_pids($1::int)) END
      ORDER BY a.xact_start NULLS LAST, a.pid, relation
      LIMIT 10`,
    [waiterPid ?? null],
  );
  return rows.map((r) => ({
    pid: r.pid,
    relation: r.relation,
    mode: r.mode,
    applicationName: r.app,
    state: r.state,
    query: r.query,
    xactSeconds: r.xact_seconds,
  }));
}

/** One line naming the blockers: `pid 4711 (AccessExclusiveLock on public.deals, idle in transaction 93 s: LOCK TABLE deals)`. */
export function describeBlockers(blockers: readonly LockBlocker[]): string {
  if (blockers.length === 0) return 'the session holding it has ended since';
  const seen = new Map<number, LockBlocker[]>();
  for (const b of blockers) seen.set(b.pid, [...(seen.get(b.pid) ?? []), b]);
  return [...seen.entries()]
    .map(([pid, locks]) => {
      const first = locks[0];
      const what = locks.map((l) => `${l.mode}${l.relation ? ` on ${l.relation}` : ''}`).join(', ');
      const since = first.xactSeconds === null ? '' : ` ${first.xactSeconds} s`;
      return `pid ${pid} (${what}; ${first.state || 'unknown state'}${since}${first.query ? `: ${first.query}` : ''})`;
    })
    .join('; ');
}
