// What a draft reads from one table beyond the FK graph: NULL tenants (and whether they are shared by
// design), unique keys. Polymorphic pairs: polymorphic-pairs.ts.
import type { Queryable } from '../db/connection.js';
import { findColumn, foreignKeys, type CatalogTable } from '../db/catalog.js';
import { ident, qualified } from '../db/quote.js';
import type { RankedSource } from './backfill-sources.js';

export { railsTableName, type PolymorphicPair } from './polymorphic-pairs.js';

/** A per-tenant unique key an existing unique index already enforces. */
export interface ProposedUnique {
  columns: string[];
  where?: string;
  /** The index it comes from. */
  index: string;
}


/** Rows whose tenant column is NULL, and how many of them some direct source would place. */
export async function nullTenantRows(
  db: Queryable,
  t: CatalogTable,
  tenantColumn: string,
  tenantTable: string,
  tenantKey: string,
  sources: RankedSource[],
  catalogOf: (name: string) => CatalogTable | undefined,
): Promise<{ nullRows: number; placeable: number; undecided: boolean }> {
  const joins: string[] = [];
  const exprs: string[] = [];
  let undecided = false;
  sources.forEach((s, i) => {
    const parent = catalogOf(s.parent);
    const parentTenant = s.parent === tenantTable ? tenantKey : tenantColumn;
    if (!parent || !findColumn(parent, parentTenant) || !parent.primaryKey) {
      undecided = true; // a parent filled later by backfill itself: cannot tell from here
      return;
    }
    const fkTarget = s.parent === tenantTable ? tenantKey : parent.primaryKey.length === 1 ? parent.primaryKey[0] : undefined;
    if (!fkTarget) {
      undecided = true;
      return;
    }
    joins.push(`LEFT JOIN ${qualified(parent.schema, parent.name)} p${i} ON p${i}.${ident(fkTarget)} = t.${ident(s.column)}`);
    // A parent whose own tenant is still nullable may be filled first by backfill: a matched row counts.
    const filledLater = s.parent !== tenantTable && !findColumn(parent, parentTenant)!.notNull;
    exprs.push(filledLater ? `p${i}.${ident(fkTarget)} IS NOT NULL` : `p${i}.${ident(parentTenant)} IS NOT NULL`);
  });
  const placeable = exprs.length > 0 ? `count(*) FILTER (WHERE ${exprs.join(' OR ')})` : '0';
  const r = await db.query<{ n: string; placeable: string }>(
    `SELECT count(*)::int8 AS n, ${placeable}::int8 AS placeable FROM ${qualified(t.schema, t.name)} t ${joins.join(' ')} WHERE t.${ident(tenantColumn)} IS NULL`,
  );
  return { nullRows: Number(r.rows[0].n), placeable: Number(r.rows[0].placeable), undecided };
}

/**
 * Per-tenant keys from the table's valid unique indexes that include the tenant column (not the
 * primary key, no expressions): the other columns, with the index predicate when it is partial.
 * An index on the tenant column alone is a singleton (one row per tenant).
 */
export function proposedKeys(t: CatalogTable, tenantColumn: string): { unique: ProposedUnique[]; singleton: string | undefined } {
  const unique: ProposedUnique[] = [];
  let singleton: string | undefined;
  for (const ix of t.indexes) {
    if (!ix.unique || ix.primary || !ix.valid || ix.columns.some((c) => c === null)) continue;
    const cols = ix.columns as string[];
    if (!cols.includes(tenantColumn)) continue;
    const others = cols.filter((c) => c !== tenantColumn);
    const where = ix.predicate ? stripParens(ix.predicate) : undefined;
    if (others.length === 0) {
      if (!where) singleton = ix.name;
      continue;
    }
    // (tenant, id) keys exist for composite foreign keys, not as business keys.
    if (t.primaryKey && others.length === t.primaryKey.length && others.every((c) => t.primaryKey!.includes(c))) continue;
    if (unique.some((u) => u.columns.join('\u0000') === others.join('\u0000') && u.where === where)) continue;
    unique.push({ columns: others, ...(where ? { where } : {}), index: ix.name });
  }
  return { unique, singleton };
}

function stripParens(expr: string): string {
  const e = expr.trim();
  return e.startsWith('(') && e.endsWith(')') ? e.slice(1, -1) : e;
}

/**
 * What says that a table's NULL-tenant rows are shared by design rather than orphans, each with its
 * numbers (empty: nothing does, and the draft leaves them to be given a tenant):
 * - a CHECK constraint that names `<tenant> IS NULL` (e.g. `CHECK (predefined = (organization_id IS NULL))`);
 * - rows of two or more tenants referencing the NULL-tenant rows through a foreign key (predefined roles);
 * - tenant rows that repeat a NULL-tenant row's key under a unique index holding the tenant column
 *   (per-tenant overrides of a default, e.g. templates).
 */
export async function sharedRowEvidence(
  db: Queryable,
  t: CatalogTable,
  tenantColumn: string,
  tables: readonly CatalogTable[],
): Promise<string[]> {
  const out: string[] = [];
  const c = ident(tenantColumn);
  const self = qualified(t.schema, t.name);
  const name = tenantColumn.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const namesNull = new RegExp(`(^|[^A-Za-z0-9_$"])("${name.replace(/"/g, '""')}"|${name}) IS NULL`);
  const check = t.constraints.find((x) => x.type === 'check' && namesNull.test(x.definition));
  if (check) out.push(`CHECK ${check.name} names ${tenantColumn} IS NULL`);
  const key = t.primaryKey?.length === 1 ? t.primaryKey[0] : undefined;
  if (key) {
    for (const child of tables) {
      if (!findColumn(child, tenantColumn) || child === t) continue;
      for (const fk of foreignKeys(child)) {
        const ref = fk.references!;
        if (fk.columns.length !== 1 || ref.schema !== t.schema || ref.table !== t.name || ref.columns[0] !== key) continue;
        const r = await db.query<{ n: string }>(
          `SELECT count(DISTINCT x.${c})::int8 AS n FROM ${qualified(child.schema, child.name)} x JOIN ${self} p ON p.${ident(key)} = x.${ident(fk.columns[0])}
            WHERE p.${c} IS NULL`,
        );
        const n = Number(r.rows[0].n);
        if (n >= 2) out.push(`rows of ${n} tenants in ${child.name} reference them (${fk.columns[0]})`);
      }
    }
  }
  for (const ix of t.indexes) {
    if (!ix.unique || !ix.valid || ix.predicate || ix.columns.some((x) => x === null) || !ix.columns.includes(tenantColumn)) continue;
    const others = (ix.columns as string[]).filter((x) => x !== tenantColumn);
    if (others.length === 0) continue;
    const same = others.map((x) => `o.${ident(x)} = s.${ident(x)}`).join(' AND ');
    const r = await db.query<{ n: string }>(
      `SELECT count(*)::int8 AS n FROM ${self} s WHERE s.${c} IS NULL AND EXISTS (SELECT FROM ${self} o WHERE o.${c} IS NOT NULL AND ${same})`,
    );
    const n = Number(r.rows[0].n);
    if (n > 0) out.push(`tenants override ${n} of them under ${ix.name} (${others.join(', ')})`);
  }
  return out;
}
