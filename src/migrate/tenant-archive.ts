// `migrate down` and tenant values: finds the tenant columns a down migration would drop while they
// hold values (a refusal without --force), and archives those values before the drop (with --force).
import type pg from 'pg';
import type { Queryable } from '../db/connection.js';
import { ident, literal, qualified } from '../db/quote.js';
import { withTransaction } from '../db/transaction.js';
import type { MigrationFile } from './migration-file.js';
import type { ArchivedColumn } from './migrate-result.js';
import type { Refusal } from './preflight.js';

/** A tenant column a down migration drops, and how many of its rows hold a value. */
export interface HeldTenantColumn {
  migration: string;
  schema: string;
  table: string;
  column: string;
  primaryKey: string[];
  rows: number;
}

/** The dropped tenant columns of these files that hold values now (columns already gone are skipped). */
export async function findHeldTenantValues(db: Queryable, files: readonly MigrationFile[]): Promise<HeldTenantColumn[]> {
  const held: HeldTenantColumn[] = [];
  for (const file of files) {
    for (const d of file.meta?.dropsColumns ?? []) {
      const exists = await db.query(
        `SELECT 1 FROM pg_catalog.pg_attribute WHERE attrelid = to_regclass($1) AND attname = $2 AND NOT attisdropped`,
        [qualified(d.schema, d.table), d.column],
      );
      if (exists.rowCount === 0) continue;
      const n = await db.query<{ n: string }>(
        `SELECT count(*)::int8 AS n FROM ${qualified(d.schema, d.table)} WHERE ${ident(d.column)} IS NOT NULL`,
      );
      const rows = Number(n.rows[0].n);
      if (rows > 0) held.push({ migration: file.name, ...d, rows });
    }
  }
  return held;
}

/** The refusals of a down without --force: one per column that holds values. */
export function tenantValueRefusals(held: readonly HeldTenantColumn[], stateSchema: string): Refusal[] {
  return held.map((h) => ({
    table: h.table,
    problem: 'tenant-values',
    count: h.rows,
    remedies: [{ kind: 'force-down', stateSchema }],
    columns: [h.column],
  }));
}

/**
 * Copies every value of these columns into `<state>.migrate_archive` under `runId`, keyed by primary
 * key (or the whole row without the column), in one transaction: all of them or none.
 */
export async function archiveTenantValues(
  client: pg.ClientBase,
  stateSchema: string,
  runId: string,
  held: readonly HeldTenantColumn[],
): Promise<ArchivedColumn[]> {
  const state = ident(stateSchema);
  return withTransaction(client, async (tx) => {
    const archived: ArchivedColumn[] = [];
    for (const h of held) {
      const key =
        h.primaryKey.length > 0
          ? `jsonb_build_object(${h.primaryKey.map((k) => `${literal(k)}, x.${ident(k)}`).join(', ')})`
          : `to_jsonb(x) - ${literal(h.column)}`;
      const r = await tx.query(
        `INSERT INTO ${state}.migrate_archive (run_id, migration, table_schema, table_name, column_name, row_key, value)
         SELECT $1, $2, $3, $4, $5, ${key}, x.${ident(h.column)}::text FROM ${qualified(h.schema, h.table)} x WHERE x.${ident(h.column)} IS NOT NULL`,
        [runId, h.migration, h.schema, h.table, h.column],
      );
      archived.push({ table: h.table, column: h.column, rows: r.rowCount ?? 0, runId });
    }
    return archived;
  });
}
