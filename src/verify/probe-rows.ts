// Finds or makes, as the owner inside a probe transaction, the row a write probe needs: parents included, even on empty tables.
import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { Manifest } from '../config/manifest.js';
import { findColumn, findRelation, foreignKeys, type Catalog, type CatalogConstraint, type CatalogTable } from '../db/catalog.js';
import { ident, qualified } from '../db/quote.js';
import { errorText, withSavepoint } from './probe-transaction.js';
import type { TableInfo } from './verify-types.js';

/** A row located by partition (tableoid) and ctid: a ctid alone is ambiguous across partitions. */
export interface RowRef {
  ctid: string;
  tableoid: string;
  /** Made for the probe (it exists only inside the rolled-back transaction). */
  temporary: boolean;
}
export type RowLookup = RowRef | { problem: string };
export const isRow = (r: RowLookup): r is RowRef => 'ctid' in r;

export interface RowContext {
  manifest: Manifest;
  catalog: Catalog;
  tenantInfo: TableInfo;
  /** Set on a Citus coordinator: rows are inserted with one VALUES row (Citus runs INSERT … SELECT from a function as a COPY, refused under RLS). */
  citus?: unknown;
}

/** Required references are followed this deep (a chain of parents made for one probe row). */
const MAX_DEPTH = 6;

/** Columns an INSERT may set: not identity, not generated, not a primary-key column with a default. */
export function insertableColumns(rel: CatalogTable, keep?: string): string[] {
  const pk = new Set(rel.primaryKey ?? []);
  return rel.columns
    .filter((c) => c.name === keep || (!c.identity && !c.generated && !(pk.has(c.name) && c.default !== null)))
    .map((c) => c.name);
}

/**
 * A row of `tenant` in the table: an existing one, else one inserted for the probe (copying another
 * tenant's row when there is one, else made up), with the parents its required foreign keys need
 * made the same way. A `problem` says why no row could be had.
 */
export async function rowOf(tx: pg.ClientBase, ctx: RowContext, info: TableInfo, tenant: string, depth = 0): Promise<RowLookup> {
  const existing = await existingRowOf(tx, info, tenant);
  if (existing) return existing;
  if (info.isTenantTable) return { problem: `tenant ${tenant} does not exist` };
  return createRow(tx, ctx, info.rel, { column: info.column, value: tenant }, depth);
}

/** An existing row of `tenant` in the table (read only), or undefined. */
export async function existingRowOf(tx: pg.ClientBase, info: TableInfo, tenant: string): Promise<RowRef | undefined> {
  const t = qualified(info.rel.schema, info.name);
  const existing = await tx.query<{ ctid: string; tableoid: string }>(
    `SELECT ctid::text AS ctid, tableoid::oid::text AS tableoid FROM ${t} WHERE ${ident(info.column)} = $1::${info.type} LIMIT 1`,
    [tenant],
  );
  return existing.rows.length > 0 ? { ...existing.rows[0], temporary: false } : undefined;
}

/** A new row of `tenant` in the table, made as whoever runs `tx` (see rowOf). */
export function makeRowOf(tx: pg.ClientBase, ctx: RowContext, info: TableInfo, tenant: string): Promise<RowLookup> {
  if (info.isTenantTable) return Promise.resolve({ problem: `tenant ${tenant} does not exist` });
  return createRow(tx, ctx, info.rel, { column: info.column, value: tenant }, 0);
}

/** The row as JSON (column → value), read as the owner. */
export async function readRow(tx: pg.ClientBase, rel: { schema: string; name: string }, row: RowRef): Promise<Record<string, unknown> | undefined> {
  const r = await tx.query<{ row: Record<string, unknown> }>(
    `SELECT to_jsonb(x) AS row FROM ${qualified(rel.schema, rel.name)} x WHERE x.tableoid = $1::oid AND x.ctid = $2::tid`,
    [row.tableoid, row.ctid],
  );
  return r.rows[0]?.row;
}

export interface ColumnType {
  name: string;
  /** pg_type.typcategory of the column's type (of the base type, for a domain). */
  category: string;
  base: string;
  type: string;
  label: string | null;
}

/** Each column's type, by name: what sampleValue needs to make up a value. */
export async function columnTypes(tx: pg.ClientBase, rel: CatalogTable): Promise<Map<string, ColumnType>> {
  const { rows } = await tx.query<ColumnType>(
    `SELECT a.attname AS name, coalesce(b.typcategory, t.typcategory)::text AS category, coalesce(b.typname, t.typname)::text AS base,
            pg_catalog.format_type(a.atttypid, a.atttypmod) AS type,
            (SELECT e.enumlabel::text FROM pg_catalog.pg_enum e WHERE e.enumtypid = coalesce(b.oid, t.oid) ORDER BY e.enumsortorder LIMIT 1) AS label
       FROM pg_catalog.pg_attribute a
       JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
       LEFT JOIN pg_catalog.pg_type b ON t.typtype = 'd' AND b.oid = t.typbasetype
      WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped`,
    [qualified(rel.schema, rel.name)],
  );
  return new Map(rows.map((r) => [r.name, r]));
}

/** The type's declared length (varchar(n)), or for numeric(p, s) its integer digits (p - s); undefined when none is declared. */
function declaredSize(col: ColumnType): { length: number; digits: number } | undefined {
  const m = /\((\d+)(?:,(\d+))?\)/.exec(col.type);
  return m ? { length: Number(m[1]), digits: Number(m[1]) - Number(m[2] ?? 0) } : undefined;
}

/** A made-up value of the column's type (as text or JSON), different on each call where the type allows; undefined when we cannot make one. */
export function sampleValue(col: ColumnType): unknown {
  const size = declaredSize(col);
  switch (col.category) {
    case 'B':
      return false;
    case 'N': {
      if (col.base === 'int2') return randomInt(1, 32_767);
      if (col.base === 'numeric' && size) return size.digits > 0 ? randomInt(0, Math.min(10 ** size.digits, 2 ** 31 - 1)) : 0;
      return randomInt(1, 2 ** 31 - 1);
    }
    case 'S':
      return `p${randomBytes(16).toString('hex')}`.slice(0, Math.max(1, size ? size.length : 33));
    case 'D':
      return 'now';
    case 'T':
      return '1 second';
    case 'E':
      return col.label ?? undefined;
    case 'A':
      return '{}';
    case 'I':
      return '127.0.0.1';
    case 'U':
      if (col.base === 'uuid') return randomUUID();
      if (col.base === 'json' || col.base === 'jsonb') return {};
      if (col.base === 'bytea') return '\\x';
      if (col.base === 'macaddr') return '08:00:2b:01:02:03';
      return undefined;
    default:
      return undefined;
  }
}

/**
 * A fixed value of the column's type, the same on every call (sampleValue's counterpart for values
 * that should read alike across runs): the type's largest value for integers (2147483647, 32767,
 * 99…9 for numeric(p, s)), the all-f uuid, `crm_tenancy_probe` for text; undefined for other types.
 */
export function fixedValue(col: ColumnType): string | undefined {
  const size = declaredSize(col);
  if (col.category === 'N') {
    if (col.base === 'int2') return '32767';
    if (col.base === 'numeric' && size) return size.digits > 0 ? String(Math.min(10 ** size.digits - 1, 2 ** 31 - 1)) : undefined;
    return '2147483647';
  }
  if (col.category === 'U' && col.base === 'uuid') return 'ffffffff-ffff-ffff-ffff-ffffffffffff';
  if (col.category === 'S') return 'crm_tenancy_probe'.slice(0, size?.length);
  return undefined;
}

/** Columns of unique keys that do not include the tenant column: a copied row would collide on them. */
function globallyUniqueColumns(rel: CatalogTable, tenantColumn: string | undefined): Set<string> {
  const out = new Set<string>();
  for (const index of rel.indexes) {
    if (!index.unique || (tenantColumn && index.columns.includes(tenantColumn))) continue;
    for (const c of index.columns) if (c) out.add(c);
  }
  return out;
}

type Tenant = { column: string; value: string } | null;

/** Inserts a row for the probe (see rowOf). */
async function createRow(tx: pg.ClientBase, ctx: RowContext, rel: CatalogTable, tenant: Tenant, depth: number): Promise<RowLookup> {
  const name = `${rel.schema}.${rel.name}`;
  const whose = tenant ? ` of tenant ${tenant.value}` : '';
  if (depth > MAX_DEPTH) return { problem: `could not make a row${whose} in ${name}: required references nest deeper than ${MAX_DEPTH} levels` };
  const t = qualified(rel.schema, rel.name);
  const template = (await tx.query<{ row: Record<string, unknown> }>(`SELECT to_jsonb(x) AS row FROM ${t} x LIMIT 1`)).rows[0]?.row;
  const row: Record<string, unknown> = template ? { ...template } : {};
  if (tenant) row[tenant.column] = tenant.value;

  const referencing = new Set<string>();
  for (const fk of foreignKeys(rel)) {
    const ref = fk.references;
    if (!ref) continue;
    const pairs = fk.columns.map((col, i) => [col, ref.columns[i]] as const).filter(([col]) => col !== tenant?.column);
    if (pairs.length === 0) continue;
    for (const [col] of pairs) referencing.add(col);
    // A copied value points at another tenant's parent: clear what may be NULL, make a parent for the rest.
    if (pairs.every(([col]) => !findColumn(rel, col)?.notNull)) {
      for (const [col] of pairs) row[col] = null;
      continue;
    }
    const parent = await parentRow(tx, ctx, ref, tenant, depth);
    if (!isRow(parent)) return { problem: `${parent.problem} (a parent for ${name}.${fk.name})` };
    const values = await readRow(tx, { schema: ref.schema, name: ref.table }, parent);
    if (!values) return { problem: `the parent row made in ${ref.schema}.${ref.table} for ${name} is not readable` };
    for (const [col, refCol] of pairs) row[col] = values[refCol];
  }

  const types = await columnTypes(tx, rel);
  const insertable = insertableColumns(rel, tenant?.column);
  const unique = globallyUniqueColumns(rel, tenant?.column);
  const madeUp = insertable.filter((c) => {
    if (c === tenant?.column || referencing.has(c)) return false;
    const col = findColumn(rel, c)!;
    return template ? unique.has(c) : col.notNull && col.default === null;
  });
  let lastError: unknown;
  for (let attempt = 1; attempt <= 3; attempt++) {
    for (const c of madeUp) {
      const col = findColumn(rel, c)!;
      const value = col.notNull ? sampleValue(types.get(c)!) : null;
      if (value === undefined) return { problem: `could not make a row${whose} in ${name}: no value to make up for ${c} (${col.type})` };
      row[c] = value;
    }
    const cols = insertable.filter((c) => Object.hasOwn(row, c)).map(ident);
    const sql = !cols.length
      ? `INSERT INTO ${t} DEFAULT VALUES`
      : ctx.citus
        ? `INSERT INTO ${t} (${cols.join(', ')}) VALUES (${cols.map((c) => `(jsonb_populate_record(NULL::${t}, $1::jsonb)).${c}`).join(', ')})`
        : `INSERT INTO ${t} (${cols.join(', ')}) SELECT ${cols.join(', ')} FROM jsonb_populate_record(NULL::${t}, $1::jsonb)`;
    try {
      const inserted = await withSavepoint(tx, () =>
        tx.query<{ ctid: string; tableoid: string }>(`${sql} RETURNING ctid::text AS ctid, tableoid::oid::text AS tableoid`, cols.length ? [JSON.stringify(row)] : []),
      );
      return { ...inserted.rows[0], temporary: true };
    } catch (error) {
      lastError = error;
      // A made-up value that collided with a unique key: try other values.
      if (!((error as { code?: string }).code === '23505' && madeUp.length > 0)) break;
    }
  }
  return { problem: `could not make a row${whose} in ${name}: ${errorText(lastError)}` };
}

/** A row to reference through `ref`: of the same tenant for a scoped table or the tenant table, else any row. */
async function parentRow(tx: pg.ClientBase, ctx: RowContext, ref: NonNullable<CatalogConstraint['references']>, tenant: Tenant, depth: number): Promise<RowLookup> {
  const { manifest, catalog } = ctx;
  const inSchema = ref.schema === manifest.schema;
  if (tenant && inSchema && ref.table === manifest.tenant.table) return rowOf(tx, ctx, ctx.tenantInfo, tenant.value, depth + 1);
  const rel = findRelation(catalog, ref.schema, ref.table);
  if (tenant && inSchema && rel && manifest.tables.some((t) => t.name === ref.table)) {
    const column = manifest.tenant.column;
    const type = findColumn(rel, column)?.type;
    if (!type) return { problem: `${ref.schema}.${ref.table} has no ${column} column` };
    const info: TableInfo = { name: rel.name, rel, column, isTenantTable: false, insertColumns: insertableColumns(rel, column), type };
    return rowOf(tx, ctx, info, tenant.value, depth + 1);
  }
  const any = await tx.query<{ ctid: string; tableoid: string }>(
    `SELECT ctid::text AS ctid, tableoid::oid::text AS tableoid FROM ${qualified(ref.schema, ref.table)} LIMIT 1`,
  );
  if (any.rows.length > 0) return { ...any.rows[0], temporary: false };
  if (!rel) return { problem: `${ref.schema}.${ref.table} is empty` };
  return createRow(tx, ctx, rel, null, depth + 1);
}
