// Detects a read-only server (a hot standby, or a session whose transactions default to READ ONLY) before a command writes or probes.
import type { Queryable } from './connection.js';
import { TenancyError } from '../errors.js';

export interface ReadOnlyState {
  /** pg_is_in_recovery(): a hot standby (or a server still replaying WAL). */
  inRecovery: boolean;
  /** transaction_read_only: every transaction of this session starts READ ONLY. */
  readOnly: boolean;
}

/** Reads both signs of a read-only server in one query. */
export async function readOnlyState(db: Queryable): Promise<ReadOnlyState> {
  const { rows } = await db.query<ReadOnlyState>(
    `SELECT pg_catalog.pg_is_in_recovery() AS "inRecovery",
            pg_catalog.current_setting('transaction_read_only') = 'on' AS "readOnly"`,
  );
  return rows[0];
}

/**
 * Throws a `read-only` TenancyError (exit 2) when the server or session cannot write: a command
 * that probes with writes would otherwise report every write as a failure.
 *
 * @example await assertWritable(client, 'verify') // throws "verify: the server is read-only (hot standby) …"
 */
export async function assertWritable(db: Queryable, command: string): Promise<void> {
  const state = await readOnlyState(db);
  if (!state.inRecovery && !state.readOnly) return;
  const what = state.inRecovery ? 'read-only (hot standby)' : 'read-only (default_transaction_read_only is on)';
  throw new TenancyError('read-only', `${command}: the server is ${what}; ${command} writes or probes and needs the primary`, {
    hint: state.inRecovery
      ? 'point --database-url / DATABASE_URL at the primary server (audit runs on a standby)'
      : 'point --database-url / DATABASE_URL at the primary server, or RESET default_transaction_read_only for the role/database you connect as (audit runs read-only)',
  });
}
