// Finds a key's duplicate groups within each tenant, in keep order, and tells the same entity from distinct ones.
import type pg from 'pg';
import { findColumn, type CatalogTable } from '../db/catalog.js';
import { ident, literal, qualified } from '../db/quote.js';
import { keyJson, keyOrder, type KeyColumn, type RowKey } from '../db/table-keys.js';
import { TenancyError } from '../errors.js';
import type { DedupeKey } from './unique-keys.js';

/** `oldest` / `newest` by a created_at-like column (else the primary key), or a column name: smallest value kept. */
export type KeepRule = 'oldest' | 'newest' | (string & {});

/** A key dedupe resolves: a manifest unique key, or the table's singleton (no columns: one row per tenant). */
export interface KeySpec extends DedupeKey {
  kind: 'unique' | 'singleton';
}

/** A column whose value must be equal across a group for its rows to be one entity, and why. */
export interface EntityColumn {
  column: string;
  because: 'foreign-key' | 'same';
}

export interface FoundGroup {
  tenant: unknown;
  /** The duplicated values of the key columns. */
  values: Record<string, unknown>;
  /** Primary keys of the group's rows, the one to keep first. */
  keys: RowKey[];
  /** Entity columns in which the rows differ: non-empty means distinct entities, not to be merged. */
  differing: EntityColumn[];
  /** For each row (keep order, at most SAMPLE_ROWS): its key and its values of the differing columns. */
  samples: { key: RowKey; values: Record<string, unknown> }[];
}

export const SAMPLE_ROWS = 10;

const CREATED_AT_NAMES = ['created_at', 'inserted_at', 'created_on', 'createdAt', 'created', 'creation_date', 'date_created'];

/** The ORDER BY that puts the row to keep first. */
export function keepOrder(table: CatalogTable, key: KeyColumn[], keep: KeepRule): string {
  const pk = (dir: string) => keyOrder('t', key, dir);
  if (keep === 'oldest' || keep === 'newest') {
    const created = CREATED_AT_NAMES.map((n) => findColumn(table, n)).find((c) => c && /^(timestamp|date)/.test(c.type));
    const dir = keep === 'oldest' ? 'ASC' : 'DESC';
    return created ? `t.${ident(created.name)} ${dir} NULLS LAST, ${pk(dir)}` : pk(dir);
  }
  if (!findColumn(table, keep)) {
    throw new TenancyError('usage', `--keep ${keep}: ${table.schema}.${table.name} has no column ${keep}`, {
      hint: 'use --keep oldest, --keep newest, or a column every deduplicated table has',
    });
  }
  return `t.${ident(keep)} ASC NULLS LAST, ${pk('ASC')}`;
}

/**
 * The columns two rows of a unique-key group must agree on to be one entity: every foreign-key column
 * (two invoices numbered 7 of different customers are two invoices), then the key's `same` columns.
 * The tenant column and the key's own columns are equal within a group by construction. A singleton
 * has none: the manifest declares that a tenant has one such row, so all of a tenant's rows are it.
 */
export function entityColumns(table: CatalogTable, spec: KeySpec, tenantColumn: string): EntityColumn[] {
  if (spec.kind === 'singleton') return [];
  const skip = new Set([tenantColumn, ...spec.columns]);
  const out: EntityColumn[] = [];
  const add = (column: string, because: EntityColumn['because']) => {
    if (skip.has(column) || out.some((e) => e.column === column)) return;
    out.push({ column, because });
  };
  for (const fk of table.constraints.filter((c) => c.type === 'foreign-key')) for (const column of fk.columns) add(column, 'foreign-key');
  for (const column of spec.same ?? []) add(column, 'same');
  return out;
}

/** `(t."c" IS NOT NULL AND …) AND (<where>)`: the rows a key constrains. `where` is trusted (see DedupeKey). */
export function constrainedRows(spec: KeySpec, tenantColumn: string): string {
  const conditions = [tenantColumn, ...spec.columns].map((col) => `t.${ident(col)} IS NOT NULL`);
  if (spec.where !== undefined) conditions.push(`(${spec.where})`);
  return conditions.join(' AND ');
}

/**
 * The duplicate groups of one key: rows of one tenant, constrained by the key (its columns not NULL,
 * its predicate true), with equal key values. Rows differ in an entity column when they hold more than
 * one distinct value there, NULL counting as a value; values are compared as text, so values equal
 * only up to their type's equality (1.0 and 1.00) count as different: the cautious side.
 *
 *   SELECT to_jsonb(t."tenant") AS tenant, jsonb_build_object('code', t."code") AS vals,
 *          jsonb_agg(jsonb_build_object('id', t."id") ORDER BY …) AS keys,
 *          ARRAY[count(DISTINCT t."customer_id"::text) + bool_or(t."customer_id" IS NULL)::int > 1] AS differs, …
 *     FROM "s"."invoices" t WHERE t."tenant" IS NOT NULL AND t."code" IS NOT NULL AND (deleted_at IS NULL)
 *    GROUP BY t."tenant", t."code" HAVING count(*) > 1 ORDER BY t."tenant", t."code"
 */
export async function findDuplicateGroups(
  db: pg.ClientBase,
  rel: CatalogTable,
  key: KeyColumn[],
  spec: KeySpec,
  entity: EntityColumn[],
  tenantColumn: string,
  order: string,
): Promise<FoundGroup[]> {
  const grouping = [tenantColumn, ...spec.columns].map((col) => `t.${ident(col)}`).join(', ');
  const values = spec.columns.length ? `jsonb_build_object(${spec.columns.map((col) => `${literal(col)}, t.${ident(col)}`).join(', ')})` : `'{}'::jsonb`;
  const differs = entity.map(({ column }) => `count(DISTINCT t.${ident(column)}::text) + bool_or(t.${ident(column)} IS NULL)::int > 1`);
  const rowValues = `jsonb_build_object(${entity.map(({ column }) => `${literal(column)}, to_jsonb(t.${ident(column)})`).join(', ')})`;
  // A parameter makes this one statement of the extended protocol: a `where` that is not one expression fails.
  const { rows } = await db.query(
    `SELECT to_jsonb(t.${ident(tenantColumn)}) AS tenant, ${values} AS vals,
            jsonb_agg(${keyJson('t', key)} ORDER BY ${order}) AS keys,
            ARRAY[${differs.join(', ')}]::boolean[] AS differs,
            jsonb_agg(${rowValues} ORDER BY ${order}) AS entity_values
       FROM ${qualified(rel.schema, rel.name)} t
      WHERE ${constrainedRows(spec, tenantColumn)}
      GROUP BY ${grouping}
     HAVING count(*) > $1
      ORDER BY ${grouping}`,
    [1],
  );
  return rows.map((r) => {
    const differing = entity.filter((_, i) => r.differs[i]);
    const keys: RowKey[] = r.keys;
    const samples = differing.length
      ? keys.slice(0, SAMPLE_ROWS).map((k, i) => ({
          key: k,
          values: Object.fromEntries(differing.map(({ column }) => [column, r.entity_values[i][column]])),
        }))
      : [];
    return { tenant: r.tenant, values: r.vals, keys, differing, samples };
  });
}

/**
 * Checks a key against its table before anything is written: its columns and `same` columns exist, and
 * `where` is one boolean expression over the table (an error here names the manifest entry; exit 2).
 */
export async function checkKey(db: pg.ClientBase, rel: CatalogTable, spec: KeySpec, index: number, tenantColumn: string): Promise<void> {
  const path = `tables.${rel.name}.unique[${index}]`;
  for (const [field, columns] of [['columns', spec.columns], ['same', spec.same ?? []]] as const) {
    for (const column of columns) {
      if (!findColumn(rel, column)) throw new TenancyError('manifest-live', `${path}.${field}: column ${column} does not exist in ${rel.schema}.${rel.name}`);
    }
  }
  if (spec.where === undefined) return;
  try {
    await db.query(`SELECT 1 FROM ${qualified(rel.schema, rel.name)} t WHERE ${constrainedRows(spec, tenantColumn)} LIMIT $1`, [0]);
  } catch (error) {
    throw new TenancyError('manifest-live', `${path}.where: ${JSON.stringify(spec.where)} is not a condition on ${rel.schema}.${rel.name}: ${(error as Error).message}`, {
      hint: 'write the predicate of the partial unique index, e.g. deleted_at IS NULL',
      cause: error,
    });
  }
}
