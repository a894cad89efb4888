// What is in a database, per the manifest: tenants, row counts per tenant, missing columns, NULLs.
import type { Queryable } from '../db/connection.js';
import { findColumn, findRelation, readCatalog } from '../db/catalog.js';
import { ident, qualified } from '../db/quote.js';
import type { Manifest } from '../config/manifest.js';

export interface TableOverview {
  table: string;
  exists: boolean;
  hasTenantColumn: boolean;
  rows: number;
  /** Rows whose tenant is NULL (all rows when the column is missing). */
  nullTenants: number;
  /** Rows per tenant key (as text). */
  perTenant: Record<string, number>;
}

export interface Overview {
  tenants: { key: string; label: string }[];
  tables: TableOverview[];
}

/** Exact counts, one query per table: meant for demo-sized databases. */
export async function readOverview(db: Queryable, manifest: Manifest): Promise<Overview> {
  const catalog = await readCatalog(db, [manifest.schema]);
  const { schema, tenant } = manifest;
  const tenantTable = findRelation(catalog, schema, tenant.table);
  const label = tenantTable && findColumn(tenantTable, 'name') ? ident('name') : ident(tenant.key);
  const tenants = tenantTable
    ? (
        await db.query<{ key: string; label: string }>(
          `SELECT ${ident(tenant.key)}::text AS key, ${label}::text AS label FROM ${qualified(schema, tenant.table)} ORDER BY 1`,
        )
      ).rows
    : [];
  const tables: TableOverview[] = [];
  for (const { name } of manifest.tables) {
    const rel = findRelation(catalog, schema, name);
    if (!rel) {
      tables.push({ table: name, exists: false, hasTenantColumn: false, rows: 0, nullTenants: 0, perTenant: {} });
      continue;
    }
    const hasColumn = Boolean(findColumn(rel, tenant.column));
    if (!hasColumn) {
      const { rows } = await db.query<{ n: string }>(`SELECT count(*) AS n FROM ${qualified(schema, name)}`);
      const n = Number(rows[0].n);
      tables.push({ table: name, exists: true, hasTenantColumn: false, rows: n, nullTenants: n, perTenant: {} });
      continue;
    }
    const { rows } = await db.query<{ tenant: string | null; n: string }>(
      `SELECT ${ident(tenant.column)}::text AS tenant, count(*) AS n FROM ${qualified(schema, name)} GROUP BY 1 ORDER BY 1`,
    );
    const perTenant: Record<string, number> = {};
    let total = 0;
    let nulls = 0;
    for (const row of rows) {
      total += Number(row.n);
      if (row.tenant === null) nulls = Number(row.n);
      else perTenant[row.tenant] = Number(row.n);
    }
    tables.push({ table: name, exists: true, hasTenantColumn: true, rows: total, nullTenants: nulls, perTenant });
  }
  return { tenants, tables };
}
