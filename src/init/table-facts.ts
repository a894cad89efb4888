// What a draft reads from one table beyond the FK graph: NULL tenants, unique keys, polymorphic pairs.
import type { Queryable } from '../db/connection.js';
import { findColumn, type CatalogTable } from '../db/catalog.js';
import { ident, qualified } from '../db/quote.js';
import type { RankedSource } from './backfill-sources.js';

/** A per-tenant unique key an existing unique index already enforces. */
export interface ProposedUnique {
  columns: string[];
  where?: string;
  /** The index it comes from. */
  index: string;
}

/** A `*_type` / `*_id` pair, with the type values seen and the tables they name (Rails convention). */
export interface PolymorphicPair {
  typeColumn: string;
  idColumn: string;
  /** Type value → table, for the values that name a table of the schema. */
  targets: { type: string; table: string }[];
  /** Type values seen that name no table. */
  unmatched: string[];
}

/** Rows a type sample reads at most, and distinct values kept: a look, not a scan. */
const TYPE_SAMPLE_ROWS = 10_000;
const TYPE_VALUES = 20;

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

/** `PaymentRequest` → `payment_requests`; `Billing::Invoice` → `billing_invoices` (Rails' tableize). */
export function railsTableName(type: string): string {
  const snake = type
    .replace(/::/g, '_')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1_$2')
    .replace(/([a-z\d])([A-Z])/g, '$1_$2')
    .toLowerCase();
  if (/[^aeiou]y$/.test(snake)) return `${snake.slice(0, -1)}ies`;
  if (/(s|x|z|ch|sh)$/.test(snake)) return `${snake}es`;
  return `${snake}s`;
}

/** The table's `X_type` / `X_id` pairs; type values from a bounded sample, matched to table names. */
export async function polymorphicPairs(db: Queryable, t: CatalogTable, tableNames: ReadonlySet<string>): Promise<PolymorphicPair[]> {
  const pairs: PolymorphicPair[] = [];
  for (const c of t.columns) {
    const m = /^(.+)_type$/.exec(c.name);
    if (!m || !/^(text|character varying|varchar|citext)/.test(c.type)) continue;
    const id = findColumn(t, `${m[1]}_id`);
    if (!id) continue;
    const r = await db.query<{ v: string }>(
      `SELECT DISTINCT v FROM (SELECT ${ident(c.name)}::text AS v FROM ${qualified(t.schema, t.name)} WHERE ${ident(c.name)} IS NOT NULL LIMIT ${TYPE_SAMPLE_ROWS}) s ORDER BY v LIMIT ${TYPE_VALUES}`,
    );
    const targets: PolymorphicPair['targets'] = [];
    const unmatched: string[] = [];
    for (const { v } of r.rows) {
      const table = railsTableName(v);
      if (tableNames.has(table)) targets.push({ type: v, table });
      else unmatched.push(v);
    }
    pairs.push({ typeColumn: c.name, idColumn: id.name, targets, unmatched });
  }
  return pairs;
}
