// Before `policies apply` changes anything: every scoped table with a policy file has its tenant
// column, NOT NULL (validated by migrate) — else enabling RLS would hide or strand rows. A
// `shared_rows` table keeps it nullable on purpose: its NULL rows are the shared ones.
import type pg from 'pg';
import type { Manifest } from '../config/manifest.js';
import { ident, qualified } from '../db/quote.js';

/** A scoped table that is not ready for row-level security, and the command that makes it ready. */
export interface ApplyPreflightRefusal {
  schema: string;
  table: string;
  problem: 'missing-tenant-column' | 'nullable-tenant-column';
  /** Rows whose tenant is NULL (for a nullable column). */
  nullRows?: number;
  detail: string;
  /** What to run, in order. */
  commands: string[];
}

/**
 * Reads the scoped tables' tenant columns (one catalog query) and counts NULL tenants where the
 * column is still nullable (the tenant index answers it). Tables missing from the database are left
 * to apply itself (it reports them per table).
 */
export async function applyPreflight(
  client: pg.ClientBase,
  manifest: Manifest,
  tables: readonly { schema: string; table: string }[],
): Promise<ApplyPreflightRefusal[]> {
  const scoped = tables.filter((t) => t.table !== manifest.tenant.table || t.schema !== manifest.schema);
  if (scoped.length === 0) return [];
  const { rows } = await client.query<{ schema: string; table: string; has_column: boolean; not_null: boolean }>(
    `SELECT t.schema, t.table, a.attname IS NOT NULL AS has_column, coalesce(a.attnotnull, false) AS not_null
       FROM unnest($1::text[], $2::text[]) AS t(schema, "table")
       JOIN pg_catalog.pg_namespace n ON n.nspname = t.schema
       JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = t.table
       LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attname = $3 AND NOT a.attisdropped AND a.attnum > 0
      ORDER BY t.schema, t.table`,
    [scoped.map((t) => t.schema), scoped.map((t) => t.table), manifest.tenant.column],
  );
  const refusals: ApplyPreflightRefusal[] = [];
  const column = manifest.tenant.column;
  const shared = new Set(manifest.tables.filter((t) => t.sharedRows).map((t) => t.name));
  for (const r of rows) {
    const sharedRows = r.schema === manifest.schema && shared.has(r.table);
    if (!r.has_column) {
      refusals.push({
        schema: r.schema,
        table: r.table,
        problem: 'missing-tenant-column',
        detail: `${r.schema}.${r.table} has no ${column} column: its policy would compare a column that does not exist`,
        commands: ['crm-tenancy generate', 'crm-tenancy migrate', 'crm-tenancy backfill', 'crm-tenancy migrate'],
      });
    } else if (!r.not_null && !sharedRows) {
      const { rows: counted } = await client.query<{ n: string }>(
        `SELECT count(*) AS n FROM ${qualified(r.schema, r.table)} WHERE ${ident(column)} IS NULL`,
      );
      const nullRows = Number(counted[0].n);
      refusals.push({
        schema: r.schema,
        table: r.table,
        problem: 'nullable-tenant-column',
        nullRows,
        detail:
          nullRows > 0
            ? `${r.schema}.${r.table}: ${nullRows} row(s) have no ${column}; with row-level security on, no tenant would see them`
            : `${r.schema}.${r.table}: ${column} is not yet NOT NULL (the validate phase has not run): new rows without a tenant would be invisible`,
        commands: nullRows > 0 ? ['crm-tenancy backfill', 'crm-tenancy migrate'] : ['crm-tenancy migrate'],
      });
    }
  }
  return refusals;
}
