// Puts tenant values archived by `migrate down --force` back, once `migrate up` has re-added the column.
import type pg from 'pg';
import type { Manifest } from '../config/manifest.js';
import { withClient, type ConnectionOptions } from '../db/connection.js';
import { ident, literal, qualified } from '../db/quote.js';
import { withTransaction } from '../db/transaction.js';
import { TenancyError } from '../errors.js';
import { finishRun, getRun } from '../state/runs.js';

export interface RestoreOptions extends ConnectionOptions<pg.ClientBase> {
  manifest: Manifest;
  /** The run id `migrate down --force` printed (`migrate-down-…`). */
  runId: string;
}

export interface RestoredColumn {
  table: string;
  column: string;
  /** Rows whose value was put back (rows that already have a value are left alone). */
  rows: number;
  /** Archived values whose row no longer exists. */
  missing: number;
}

/**
 * Restores the tenant values a `migrate down --force` run archived, into rows whose tenant column is
 * NULL again (after `migrate up` re-added it), in one transaction; marks the run undone.
 */
export async function restoreArchivedTenants(options: RestoreOptions): Promise<RestoredColumn[]> {
  return withClient(options, 'crm-tenancy migrate restore', (client) => restoreWith(client, options));
}

async function restoreWith(client: pg.ClientBase, options: RestoreOptions): Promise<RestoredColumn[]> {
  const { stateSchema } = options.manifest;
  const state = ident(stateSchema);
  const run = await getRun(client, stateSchema, options.runId).catch(() => undefined);
  if (!run || run.command !== 'migrate-down') {
    throw new TenancyError('usage', `no migrate down run ${options.runId}`, { hint: 'pass the run id that `migrate down --force` printed' });
  }
  if (run.status === 'undone') throw new TenancyError('usage', `run ${options.runId} was restored already`, { exitCode: 1 });
  const groups = await client.query<{ table_schema: string; table_name: string; column_name: string; keys: string[] }>(
    `SELECT table_schema, table_name, column_name, array_agg(DISTINCT k) AS keys
       FROM ${state}.migrate_archive, LATERAL jsonb_object_keys(row_key) k
      WHERE run_id = $1 GROUP BY 1, 2, 3 ORDER BY 2, 3`,
    [options.runId],
  );
  return withTransaction(client, async (tx) => {
    const out: RestoredColumn[] = [];
    for (const g of groups.rows) {
      const t = qualified(g.table_schema, g.table_name);
      const type = await tx.query<{ t: string }>(
        `SELECT format_type(atttypid, atttypmod) AS t FROM pg_catalog.pg_attribute WHERE attrelid = to_regclass($1) AND attname = $2 AND NOT attisdropped`,
        [t, g.column_name],
      );
      if (!type.rows[0]) {
        throw new TenancyError('usage', `${g.table_schema}.${g.table_name}.${g.column_name} does not exist`, {
          hint: 'run `crm-tenancy migrate up` first: it adds the column back, empty',
          exitCode: 1,
        });
      }
      const key = `jsonb_build_object(${g.keys.map((k) => `${literal(k)}, x.${ident(k)}`).join(', ')})`;
      const c = ident(g.column_name);
      const filter = `a.run_id = $1 AND a.table_schema = $2 AND a.table_name = $3 AND a.column_name = $4`;
      const params = [options.runId, g.table_schema, g.table_name, g.column_name];
      const updated = await tx.query(
        `UPDATE ${t} x SET ${c} = a.value::${type.rows[0].t} FROM ${state}.migrate_archive a
          WHERE ${filter} AND a.row_key = ${key} AND x.${c} IS NULL`,
        params,
      );
      const missing = await tx.query<{ n: string }>(
        `SELECT count(*)::int8 AS n FROM ${state}.migrate_archive a WHERE ${filter} AND NOT EXISTS (SELECT FROM ${t} x WHERE a.row_key = ${key})`,
        params,
      );
      out.push({ table: g.table_name, column: g.column_name, rows: updated.rowCount ?? 0, missing: Number(missing.rows[0].n) });
    }
    await finishRun(tx, stateSchema, options.runId, 'undone', { ...(run.summary ?? {}), restored: out });
    return out;
  });
}
