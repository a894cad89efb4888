// The audit's read-only snapshot: on its own connections (one exported snapshot shared by several), or on a caller's client.
import pg from 'pg';
import { clientConfig, describeTarget, type ConnectionTarget } from '../db/connection.js';
import { TenancyError, isPgServerError, toTenancyError } from '../errors.js';

/** A connection inside the audit's read-only transaction; `release` ends what the audit began. */
export interface Snapshot {
  client: pg.ClientBase;
  release(): Promise<void>;
}

export interface SnapshotSettings {
  statementTimeoutMs: number;
  workMem: string;
}

const SAVEPOINT = 'crm_tenancy_audit';

/** Transaction-local settings of every audit connection. */
async function configure(client: pg.ClientBase, settings: SnapshotSettings): Promise<void> {
  await client.query(
    // row_security = off: a data check that row-level security would filter raises (42501) instead
    // of silently seeing no rows — an auditor subject to RLS must not produce a false all-clear.
    `SELECT set_config('statement_timeout', $1, true), set_config('work_mem', $2, true), set_config('lock_timeout', '5s', true),
            set_config('row_security', 'off', true),
            -- jit = off: compiling each count query costs more than it saves (measured: 4.3 s vs 4.6-6.1 s for the CRM's data checks).
            set_config('jit', 'off', true),
            -- A data scan's WHERE keeps only bad rows, but the planner cannot know that \`<>\` (or IS NULL
            -- on a column without statistics) passes few: it costs every row through the Gather and
            -- then runs the scan without workers (the samples' ordered aggregate cannot be split). At
            -- 0.001 it plans the parallel scan (measured, 4M-row child, 10M-row chain: 20.7 s serial
            -- vs 6.2 s parallel on 2 cores). Catalog queries read tables too small for workers.
            set_config('parallel_tuple_cost', '0.001', true)`,
    [`${settings.statementTimeoutMs}ms`, settings.workMem],
  );
}

/**
 * Opens a connection in a REPEATABLE READ READ ONLY transaction; with `snapshot` (an id from
 * pg_export_snapshot()), one that sees exactly what the exporting transaction sees.
 */
export async function openSnapshot(target: ConnectionTarget, snapshot: string | null, settings: SnapshotSettings): Promise<Snapshot> {
  const client = new pg.Client({ ...clientConfig(target), application_name: 'crm-tenancy audit' });
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => {});
    const e = toTenancyError(error);
    throw new TenancyError('connection', `cannot connect to ${describeTarget(target)}: ${e.message}`, { cause: error, hint: e.hint });
  }
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    if (snapshot) await client.query(`SET TRANSACTION SNAPSHOT '${snapshot.replace(/[^0-9A-F-]/gi, '')}'`);
    await configure(client, settings);
  } catch (error) {
    await client.end().catch(() => {});
    throw error;
  }
  return {
    client,
    async release() {
      await client.query('ROLLBACK').catch(() => {});
      await client.end().catch(() => {});
    },
  };
}

/**
 * Runs the audit on a caller's client, which stays open. Idle: the audit's own REPEATABLE READ READ
 * ONLY transaction, rolled back. Inside the caller's transaction: a savepoint made read-only, so the
 * audit sees what that transaction sees (its uncommitted rows too, at its isolation level), and
 * rolling back to the savepoint restores every setting the audit changed.
 */
export async function adoptClient(client: pg.ClientBase, settings: SnapshotSettings): Promise<Snapshot> {
  const status = client.getTransactionStatus();
  if (status === 'E') {
    throw new TenancyError('usage', 'the client given to the audit is in a failed transaction', { hint: 'roll it back first' });
  }
  if (status === 'T') {
    try {
      await client.query(`SAVEPOINT ${SAVEPOINT}`);
    } catch (error) {
      // pg settles a failed query at the error, before the server's ready-for-query says 'E': a
      // caller that goes on at once can still read 'T' here. The server then answers 25P02.
      if (isPgServerError(error) && error.code === '25P02') {
        throw new TenancyError('usage', 'the client given to the audit is in a failed transaction', { hint: 'roll it back first', cause: error });
      }
      throw error;
    }
    try {
      await client.query(`SET LOCAL transaction_read_only = on`);
      await configure(client, settings);
    } catch (error) {
      await client.query(`ROLLBACK TO SAVEPOINT ${SAVEPOINT}; RELEASE SAVEPOINT ${SAVEPOINT}`).catch(() => {});
      throw error;
    }
    return {
      client,
      async release() {
        await client.query(`ROLLBACK TO SAVEPOINT ${SAVEPOINT}; RELEASE SAVEPOINT ${SAVEPOINT}`);
      },
    };
  }
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  try {
    await configure(client, settings);
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  }
  return {
    client,
    async release() {
      await client.query('ROLLBACK');
    },
  };
}
