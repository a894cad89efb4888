// Server health signals a batch job yields to (standby lag, autovacuum on its table, forced checkpoints) and the pause loop.
import { TenancyError } from '../errors.js';
import { silentLogger, type Logger } from '../logger.js';
import type { Queryable } from './connection.js';
import { qualified } from './quote.js';

/** The table a batch job is working on. */
export interface HealthTable {
  schema: string;
  table: string;
}

/** A VACUUM running on the table (pg_stat_progress_vacuum). */
export interface VacuumOnTable {
  pid: number;
  /** An autovacuum worker (false: someone ran VACUUM by hand). */
  auto: boolean;
  /** An autovacuum "to prevent wraparound": it cannot be cancelled and must not be starved. */
  wraparound: boolean;
  /** pg_stat_progress_vacuum.phase, e.g. `scanning heap`. */
  phase: string;
  /** Seconds since its transaction started. */
  seconds: number;
}

export interface ServerHealth {
  /** Physical standbys streaming from this server (logical walsenders are not counted). */
  standbys: number;
  /** The worst of write_lag / flush_lag / replay_lag over the physical standbys, in seconds; 0 when none. */
  replicationLagSeconds: number;
  /** VACUUMs running on the table right now. */
  vacuums: VacuumOnTable[];
  /** Checkpoints requested (not timed) since the server's statistics were reset. */
  checkpointsRequested: number;
  /**
   * Requested checkpoints since this connection's previous read; null on its first read.
   * A checkpoint is requested when max_wal_size of WAL was written before checkpoint_timeout: the
   * WAL rate (ours included) is outrunning the checkpointer.
   */
  checkpointsRequestedSinceLastRead: number | null;
  /**
   * False when the role may not read other sessions' statistics (neither superuser nor
   * pg_read_all_stats): autovacuum workers and standby lag are then invisible and read as healthy.
   */
  statsVisible: boolean;
}

export interface HealthThresholds {
  /** Pause while a physical standby lags more than this many seconds (default 10). */
  maxReplicationLagSeconds?: number;
  /**
   * Pause while an autovacuum has been running on the table longer than this many seconds
   * (default 60); an anti-wraparound autovacuum pauses at once. A manual VACUUM never pauses.
   */
  maxAutovacuumSeconds?: number;
  /** Pause when more than this many checkpoints were requested since the previous batch (default 0). */
  maxRequestedCheckpoints?: number;
  /** How long one pause lasts before the signals are read again, in ms (default 10 000). */
  pauseMs?: number;
  /** Give up (error) after pausing this long in one wait, in ms (default: wait as long as it takes). */
  maxWaitMs?: number;
}

export const DEFAULT_HEALTH_THRESHOLDS: Readonly<Required<Omit<HealthThresholds, 'maxWaitMs'>>> = {
  maxReplicationLagSeconds: 10,
  maxAutovacuumSeconds: 60,
  maxRequestedCheckpoints: 0,
  pauseMs: 10_000,
};

interface ConnectionState {
  /** server_version_num: PostgreSQL 17 moved checkpoint counters to pg_stat_checkpointer. */
  version: number;
  lastRequested: number | null;
}

// The checkpoint signal is a difference between two reads: its baseline belongs to the connection.
const states = new WeakMap<object, ConnectionState>();

const HEALTH_SQL = (checkpointsRequested: string) => `
WITH walsenders AS (
  SELECT r.state, greatest(extract(epoch FROM r.write_lag), extract(epoch FROM r.flush_lag),
                           extract(epoch FROM r.replay_lag)) AS lag
    FROM pg_catalog.pg_stat_replication r
    JOIN pg_catalog.pg_stat_activity a ON a.pid = r.pid
   WHERE a.datid IS NULL -- a logical walsender is connected to a database; a physical one is not
)
SELECT (SELECT count(*)::int FROM walsenders) AS standbys,
       (SELECT coalesce(max(lag), 0)::float8 FROM walsenders) AS lag,
       (SELECT coalesce(jsonb_agg(jsonb_build_object(
                 'pid', v.pid,
                 'auto', a.backend_type = 'autovacuum worker' OR a.query LIKE 'autovacuum:%',
                 'wraparound', a.query LIKE 'autovacuum:%(to prevent wraparound)',
                 'phase', v.phase,
                 'seconds', extract(epoch FROM clock_timestamp() - coalesce(a.xact_start, a.query_start)))
               ORDER BY v.pid), '[]'::jsonb)
          FROM pg_catalog.pg_stat_progress_vacuum v
          JOIN pg_catalog.pg_stat_activity a ON a.pid = v.pid
         WHERE v.relid = pg_catalog.to_regclass($1)) AS vacuums,
       (${checkpointsRequested})::int8 AS checkpoints_requested,
       (pg_catalog.pg_has_role(current_user, 'pg_read_all_stats', 'USAGE')
        OR (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user)) AS stats_visible`;

/**
 * Reads the health signals for one table: lag of physical standbys (pg_stat_replication), VACUUMs on
 * the table (pg_stat_progress_vacuum joined with pg_stat_activity), and requested checkpoints
 * (pg_stat_bgwriter.checkpoints_req; pg_stat_checkpointer.num_requested from PostgreSQL 17) with
 * their growth since this connection's previous read. Statistics views only: no locks taken.
 *
 * @example const health = await readServerHealth(client, { schema: 'public', table: 'deals' });
 */
export async function readServerHealth(db: Queryable, table: HealthTable): Promise<ServerHealth> {
  let state = states.get(db);
  if (!state) {
    const { rows } = await db.query<{ v: number }>(`SELECT current_setting('server_version_num')::int AS v`);
    state = { version: rows[0].v, lastRequested: null };
    states.set(db, state);
  }
  const requested =
    state.version >= 170000
      ? 'SELECT num_requested FROM pg_catalog.pg_stat_checkpointer'
      : 'SELECT checkpoints_req FROM pg_catalog.pg_stat_bgwriter';
  const { rows } = await db.query<{
    standbys: number;
    lag: number;
    vacuums: VacuumOnTable[];
    checkpoints_requested: string;
    stats_visible: boolean;
  }>(HEALTH_SQL(requested), [qualified(table.schema, table.table)]);
  const r = rows[0];
  const checkpointsRequested = Number(r.checkpoints_requested);
  const since = state.lastRequested === null ? null : Math.max(0, checkpointsRequested - state.lastRequested);
  state.lastRequested = checkpointsRequested;
  return {
    standbys: r.standbys,
    replicationLagSeconds: r.lag,
    vacuums: r.vacuums.map((v) => ({ ...v, seconds: Number(v.seconds) })),
    checkpointsRequested,
    checkpointsRequestedSinceLastRead: since,
    statsVisible: r.stats_visible,
  };
}

/** Why the server is unhealthy for this table under the thresholds, one phrase each; empty when healthy. */
export function healthProblems(health: ServerHealth, thresholds: HealthThresholds = {}): string[] {
  const t = { ...DEFAULT_HEALTH_THRESHOLDS, ...thresholds };
  const out: string[] = [];
  if (health.replicationLagSeconds > t.maxReplicationLagSeconds) {
    out.push(`replication lag ${health.replicationLagSeconds.toFixed(1)} s > ${t.maxReplicationLagSeconds} s`);
  }
  for (const v of health.vacuums) {
    if (!v.auto) continue;
    if (v.wraparound) out.push(`autovacuum to prevent wraparound on the table (pid ${v.pid}, ${v.phase})`);
    else if (v.seconds > t.maxAutovacuumSeconds) {
      out.push(`autovacuum on the table for ${Math.round(v.seconds)} s > ${t.maxAutovacuumSeconds} s (pid ${v.pid}, ${v.phase})`);
    }
  }
  const requested = health.checkpointsRequestedSinceLastRead ?? 0;
  if (requested > t.maxRequestedCheckpoints) {
    out.push(`${requested} checkpoint(s) requested since the last check (WAL is outrunning max_wal_size)`);
  }
  return out;
}

export interface HealthWaitResult {
  /** How many pauses it took (0: healthy at once). */
  pauses: number;
  pausedMs: number;
  /** The reasons of every pause, in order. */
  reasons: string[][];
}

export interface HealthWaitDependencies {
  /** Reads the signals (default readServerHealth). */
  read?: (db: Queryable, table: HealthTable) => Promise<ServerHealth>;
  /** Waits `ms`, rejecting when the signal aborts (default: a timer). */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Milliseconds clock (default Date.now). */
  now?: () => number;
}

function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

const hiddenWarned = new WeakSet<object>();

/**
 * Call at the top of each batch: returns at once while the server is healthy for `table`; otherwise
 * pauses (logging each pause with its reasons), reads again, and returns once every signal is under
 * its threshold, as GitLab's batched background migrations do. Rejects with the signal's reason when
 * aborted, and with an error after `maxWaitMs` of pausing.
 *
 * @example await waitWhileUnhealthy(client, { schema: 'public', table: 'deals' }, { maxReplicationLagSeconds: 5 }, logger, signal);
 */
export async function waitWhileUnhealthy(
  db: Queryable,
  table: HealthTable,
  thresholds: HealthThresholds = {},
  logger: Logger = silentLogger,
  signal?: AbortSignal,
  deps: HealthWaitDependencies = {},
): Promise<HealthWaitResult> {
  const read = deps.read ?? readServerHealth;
  const wait = deps.sleep ?? abortableSleep;
  const now = deps.now ?? Date.now;
  const pauseMs = thresholds.pauseMs ?? DEFAULT_HEALTH_THRESHOLDS.pauseMs;
  const name = `${table.schema}.${table.table}`;
  const reasons: string[][] = [];
  const started = now();
  for (;;) {
    if (signal?.aborted) throw signal.reason;
    const health = await read(db, table);
    if (!health.statsVisible && !hiddenWarned.has(db)) {
      hiddenWarned.add(db);
      logger.warn(
        `${name}: this role cannot see other sessions' statistics, so autovacuum workers and standby lag read as healthy: GRANT pg_read_all_stats TO it`,
      );
    }
    const problems = healthProblems(health, thresholds);
    const pausedMs = now() - started;
    if (problems.length === 0) {
      if (reasons.length > 0) logger.info(`${name}: server healthy again, resuming after ${(pausedMs / 1000).toFixed(1)} s paused`);
      return { pauses: reasons.length, pausedMs: reasons.length > 0 ? pausedMs : 0, reasons };
    }
    if (thresholds.maxWaitMs !== undefined && pausedMs >= thresholds.maxWaitMs) {
      throw new TenancyError('database', `${name}: the server stayed unhealthy for ${(pausedMs / 1000).toFixed(0)} s: ${problems.join('; ')}`, {
        hint: 'run the command again once the standby caught up / the autovacuum finished, or raise the thresholds',
      });
    }
    reasons.push(problems);
    logger.warn(`${name}: pausing ${(pauseMs / 1000).toFixed(1)} s: ${problems.join('; ')}`);
    await wait(pauseMs, signal);
  }
}
