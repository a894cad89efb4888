// Data conditions checked before the validate / composite phases run: NULL or unknown tenants,
// duplicates within a tenant, cross-tenant references. Each refusal names the command that fixes it.
import type { Queryable } from '../db/connection.js';
import { ident, literal, qualified } from '../db/quote.js';
import type { Manifest } from '../config/manifest.js';
import type { Remedy } from './remedies.js';
import type { Precondition } from './migration-file.js';
import { nullTenantFixes } from './null-tenant-fix.js';

export type RefusalProblem = 'null-tenant' | 'unknown-tenant' | 'duplicate' | 'cross-tenant' | 'tenant-values';

/** Why a phase (or a down migration) will not run, and how to fix it. */
export interface Refusal {
  table: string;
  problem: RefusalProblem;
  /** Rows in the way (for duplicates: rows beyond the first of each group). */
  count: number;
  /** What fixes it, as data (`remediesText` words it). */
  remedies: Remedy[];
  /** Columns involved, e.g. the unique key or the foreign-key column. */
  columns?: string[];
}

/** A refusal's problem in words, e.g. `row(s) with NULL company_id`. */
export function describeProblem(r: Refusal): string {
  switch (r.problem) {
    case 'null-tenant':
      return `row(s) with NULL ${r.columns?.[0] ?? 'tenant'}`;
    case 'unknown-tenant':
      return `row(s) whose ${r.columns?.[0] ?? 'tenant'} names no tenant`;
    case 'duplicate':
      return `duplicate row(s) on (${r.columns?.join(', ') ?? ''})`;
    case 'cross-tenant':
      return r.columns && r.columns.length === 2
        ? `row(s) whose ${r.columns[0]}/${r.columns[1]} points at no row of their tenant`
        : `row(s) whose ${r.columns?.[0] ?? ''} references another tenant's row`;
    case 'tenant-values':
      return `row(s) with a value in ${r.columns?.[0] ?? 'the tenant column'} (down would drop it)`;
  }
}

async function columnsExist(db: Queryable, schema: string, table: string, columns: string[]): Promise<boolean> {
  const r = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_catalog.pg_attribute a
       JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
       JOIN pg_catalog.pg_namespace s ON s.oid = c.relnamespace
      WHERE s.nspname = $1 AND c.relname = $2 AND a.attname = ANY($3::text[]) AND a.attnum > 0 AND NOT a.attisdropped`,
    [schema, table, columns],
  );
  return r.rows[0].n === new Set(columns).size;
}

/** Counts the rows violating one precondition (0 when it holds, or when its columns do not exist yet). */
export async function checkPrecondition(db: Queryable, p: Precondition, manifest?: Manifest): Promise<Refusal | null> {
  const t = qualified(p.schema, p.table);
  let sql: string;
  let refusal: Omit<Refusal, 'count'>;
  switch (p.kind) {
    case 'not-null':
      if (!(await columnsExist(db, p.schema, p.table, [p.column]))) return null;
      sql = `SELECT count(*)::int8 AS n FROM ${t} WHERE ${ident(p.column)} IS NULL`;
      refusal = { table: p.table, problem: 'null-tenant', remedies: [{ kind: 'backfill', table: p.table }], columns: [p.column] };
      break;
    case 'tenant-exists':
      if (!(await columnsExist(db, p.schema, p.table, [p.column]))) return null;
      sql = `SELECT count(*)::int8 AS n FROM ${t} x WHERE x.${ident(p.column)} IS NOT NULL
               AND NOT EXISTS (SELECT FROM ${qualified(p.schema, p.tenantTable)} k WHERE k.${ident(p.tenantKey)} = x.${ident(p.column)})`;
      refusal = {
        table: p.table,
        problem: 'unknown-tenant',
        remedies: [{ kind: 'point-at-tenant-by-hand', table: p.table, column: p.column, tenantTable: p.tenantTable }],
        columns: [p.column],
      };
      break;
    case 'unique': {
      if (!(await columnsExist(db, p.schema, p.table, p.columns))) return null;
      const cols = p.columns.map(ident);
      sql = `SELECT coalesce(sum(n - 1), 0)::int8 AS n FROM (
               SELECT count(*) AS n FROM ${t} WHERE ${cols.map((c) => `${c} IS NOT NULL`).join(' AND ')}
                 ${p.where !== undefined ? `AND (${p.where})` : ''}
                GROUP BY ${cols.join(', ')} HAVING count(*) > 1) d`;
      refusal = { table: p.table, problem: 'duplicate', remedies: [{ kind: 'dedupe', table: p.table }], columns: p.columns };
      break;
    }
    case 'polymorphic': {
      if (!(await columnsExist(db, p.schema, p.table, [p.typeColumn, p.idColumn, p.tenantColumn]))) return null;
      const pair = manifest?.tables.find((x) => x.name === p.table)?.polymorphic.find((x) => x.typeColumn === p.typeColumn && x.idColumn === p.idColumn);
      if (!pair) return null;
      const c = ident(p.tenantColumn);
      // As the trigger decides: a row is fine when its id is NULL (it references nothing), or its type
      // names a target and that target row exists with the row's tenant (or is a shared row). Compared
      // as text: a one-off scan, any id type.
      const fine: string[] = [];
      for (const x of pair.targets) {
        const key = await primaryKeyColumn(db, p.schema, x.table);
        if (!key) continue;
        const shared = manifest?.tables.find((t) => t.name === x.table)?.sharedRows ?? false;
        fine.push(
          `(r.${ident(p.typeColumn)}::text = ${literal(x.type)} AND EXISTS (SELECT 1 FROM ${qualified(p.schema, x.table)} g
             WHERE g.${ident(key)}::text = r.${ident(p.idColumn)}::text AND (g.${c} = r.${c}${shared ? ` OR g.${c} IS NULL` : ''})))`,
        );
      }
      sql = `SELECT count(*)::int8 AS n FROM ${t} r WHERE r.${ident(p.idColumn)} IS NOT NULL AND NOT coalesce(${fine.join(' OR ') || 'false'}, false)`;
      refusal = {
        table: p.table,
        problem: 'cross-tenant',
        remedies: [{ kind: 'repoint-pair-by-hand', table: p.table, typeColumn: p.typeColumn, idColumn: p.idColumn }],
        columns: [p.typeColumn, p.idColumn],
      };
      break;
    }
    case 'same-tenant': {
      if (!(await columnsExist(db, p.schema, p.table, [p.column, p.tenantColumn]))) return null;
      if (!(await columnsExist(db, p.schema, p.parent, [p.parentKey, p.tenantColumn]))) return null;
      const c = ident(p.tenantColumn);
      sql = `SELECT count(*)::int8 AS n FROM ${t} ch JOIN ${qualified(p.schema, p.parent)} pa ON pa.${ident(p.parentKey)} = ch.${ident(p.column)}
              WHERE pa.${c} <> ch.${c}`;
      const notNull = await db.query(
        `SELECT 1 FROM pg_catalog.pg_attribute WHERE attrelid = to_regclass($1) AND attname = $2 AND attnotnull`,
        [t, p.column],
      );
      refusal = {
        table: p.table,
        problem: 'cross-tenant',
        remedies: [notNull.rowCount === 0 ? { kind: 'detach-cross-tenant' } : { kind: 'repoint-by-hand', table: p.table, column: p.column, parent: p.parent }],
        columns: [p.column],
      };
      break;
    }
  }
  const r = await db.query<{ n: string }>(sql);
  const count = Number(r.rows[0].n);
  return count > 0 ? { ...refusal, count } : null;
}

/**
 * Checks every precondition (deduplicated); returns the refusals, in order. With the manifest, a
 * NULL-tenant refusal names the fix that fits its rows (backfill, conflicts by hand, orphans:
 * --assign-orphans-to or shared_rows/exempt) instead of always `backfill`.
 */
export async function checkPreconditions(db: Queryable, preconditions: Precondition[], manifest?: Manifest): Promise<Refusal[]> {
  const seen = new Set<string>();
  const out: Refusal[] = [];
  for (const p of preconditions) {
    const key = JSON.stringify(p);
    if (seen.has(key)) continue;
    seen.add(key);
    const refusal = await checkPrecondition(db, p, manifest);
    if (refusal) out.push(refusal);
  }
  if (!manifest) return out;
  const fixes = await nullTenantFixes(db, manifest, out.filter((r) => r.problem === 'null-tenant').map((r) => r.table));
  for (const r of out) {
    if (r.problem === 'null-tenant') r.remedies = fixes.get(r.table) ?? r.remedies;
  }
  return out;
}

/** A table's single-column primary key, or undefined. */
async function primaryKeyColumn(db: Queryable, schema: string, table: string): Promise<string | undefined> {
  const { rows } = await db.query<{ a: string }>(
    `SELECT a.attname AS a FROM pg_catalog.pg_index i
       JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
      WHERE i.indrelid = to_regclass($1) AND i.indisprimary AND i.indnatts = 1`,
    [`${ident(schema)}.${ident(table)}`],
  );
  return rows[0]?.a;
}
