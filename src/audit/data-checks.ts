// Plans the data checks (null-tenant, cross-tenant-reference, duplicate-within-tenant): one shared
// scan per child table, and nothing at all where the catalog proves the defect impossible (unless deep).
import type { Catalog, CatalogConstraint, CatalogTable } from '../db/catalog.js';
import { findColumn, findRelation, foreignKeys } from '../db/catalog.js';
import { ident, qualified } from '../db/quote.js';
import type { Manifest } from '../config/manifest.js';
import { sharedRefProvenBy } from './shared-ref-proof.js';
import { isIntegerType, lookedUp, lookupCteBody, lookupSpec, type LookupShape, type LookupSpec } from './direct-lookup.js';
import { fillTemplate } from './sql-params.js';
import type { CheckDefinition, DataProof } from './types.js';

/**
 * One query that answers one or more checks. Most come with `fuse`: the pieces of one child
 * table's shared scan (`fuseScans` merges every piece of a table into one query), so a table is
 * read once for its NULL count, its unknown tenants and every FK it holds.
 */
export interface TableScan {
  /** What the query reads, for the run log: `deals → users, contacts`, `users ← notes` (grouped). */
  target: string;
  /** Every table the query reads. */
  tables: string[];
  /** One row; column c<i> answers parts[i]. */
  sql: string;
  parts: ScanPart[];
  /**
   * A catalog query (with its values) run first, in the same snapshot: when it returns a row the
   * scan is skipped and `proofs` become proven by `proof` (a polymorphic pair's enforcing trigger;
   * on a fused piece, the guard triggers of an FK into a shared_rows table: the piece is left out).
   */
  provenBy?: { sql: string; values: unknown[]; proof: string; proofs: DataProof[] };
  /** A fused scan some of whose pieces have a `provenBy`: the query is written again without the proven ones (`fuseGroup`). */
  pieces?: TableScan[];
  /** This scan's share of its child table's one scan (then `sql` is unused: `fuseScans` writes the query). */
  fuse?: FusePiece;
  /** Rows it reads, from the planner's estimates (pg_class.reltuples): the runner starts the biggest first. */
  rows?: number;
  /** The values of `sql`'s placeholders (a fused scan with direct lookups: their key ranges). */
  values?: unknown[];
}

/** A piece of a child table's shared scan: LEFT JOINs (to unique keys: no row multiplied) and, per part, what marks a bad row. */
export interface FusePiece {
  /** The child table (manifest name) and its quoted, qualified form. */
  table: string;
  from: string;
  /** The tables joined, for the run log. */
  parents: string[];
  /** `LEFT JOIN parent alias ON …`; aliases unique within the table's scan. */
  joins: string[];
  /** One boolean expression per part: true for a bad row (NULL counts as not bad). */
  conditions: string[];
  /** The child is partitioned: its sample ids carry the partition (tableoid). */
  partitioned: boolean;
  /** The piece joins a parent through a foreign key (counted against MAX_FK_JOINS). */
  fkJoin?: boolean;
  /** Estimated rows of the child and of each table joined (pg_class.reltuples, 0 when unknown). */
  rows: number;
  parentRows: number[];
  /**
   * The piece's other form, without its join: the joined row's value read from an array
   * (direct-lookup.ts), used when the run's probe of that table says the array pays.
   */
  lookup?: {
    spec: LookupSpec;
    /** The child's key column (alias t). */
    column: string;
    /** The part's condition, from the looked-up value expression. */
    condition: (lookedUp: string) => string;
  };
}

export interface ScanPart {
  /** The check id the part answers. */
  check: string;
  /** The table the finding belongs to (the child, for cross-tenant-reference). */
  table: string;
  /** The FK constraint, for cross-tenant-reference. */
  object: string | null;
  /**
   * Fetches the sample keys, run only when the count is not 0: $1 the ctids of the first 5 bad
   * rows, which the scan returns as ids in column m<i> (a TID scan, see sampleIds).
   */
  sampleSql: string;
  /** The message, from the count (and the scan's row, for parts that return more than c<i>/m<i>). */
  describe: (count: number, row?: Record<string, unknown>) => string;
}

export interface DuplicateQuery {
  /** The check id it answers. */
  check: string;
  table: string;
  /** Estimated rows of the table (pg_class.reltuples, 0 when unknown). */
  rows?: number;
  columns: string[];
  sql: string;
  singleton: boolean;
}

export interface DataPlan {
  scans: TableScan[];
  duplicates: DuplicateQuery[];
  /** Every answer: proven by the catalog (no scan), or scanned (a part of `scans` or a `duplicates` query). */
  proofs: DataProof[];
}

/** What a data check's planner reads. */
export interface DataPlanContext {
  manifest: Manifest;
  catalog: Catalog;
  /** Scan even where the catalog proves the answer (--deep). */
  deep: boolean;
}

/** A data check's planner: adds its scans (and its proofs) to the plan. */
export type DataPlanner = (check: CheckDefinition, context: DataPlanContext, plan: DataPlan) => void;

/** smallint, integer, bigint, numeric: compared by value across types ('1.0' is not '1' as text). */
export const NUMERIC_TYPES = new Set([21, 23, 20, 1700]);

/**
 * Samples are taken in the pass that counts, never by a second search: the count query also
 * aggregates the ctids of the first 5 bad rows in table order (with the tableoid on a partitioned
 * table, where ctids repeat across partitions), and `sampleSql` fetches their keys by ctid (a TID
 * scan of ≤ 5 rows). Only bad rows reach the aggregate (the scan's WHERE keeps no other row), so
 * its sort costs nothing on a clean table. Measured on the 10M-row benchmark shapes (bench/audit.ts,
 * PostgreSQL 15, 2 cores, work_mem 4MB):
 *   4 bad rows early in a 4M-row table: before, the count, then `ctid >= first bad AND … LIMIT 5`
 *     walked the rest of the table with one index probe per row (the issue's 10.5 s cliff; the old
 *     audit took 90 s on the chain shape vs 32 s for this one, same load). `ctid BETWEEN first AND
 *     last … LIMIT least(count, 5)` would still walk start to end when bad rows sit at both ends
 *     (shape c). In the pass: no second query.
 *   10 % bad rows (400,000 of t4's 4M): the t4 scan took 7.1-9.2 s with the sample aggregate vs
 *     5.7-8.1 s counting only (3 runs each, load average 14): the sort of 400,000 ids costs ~15 %
 *     of that scan, where a follow-up search would have found 5 rows at once. Sorting bare tids
 *     rather than text ids keeps it small; the whole audit: 0.56-0.79× the naive script under load,
 *     1.04× near idle (the naive script takes no samples).
 */
export function sampleIds(partitioned: boolean, cond: string): string {
  return partitioned
    ? `(array_agg(t.tableoid::text || ':' || t.ctid::text ORDER BY t.ctid, t.tableoid) FILTER (WHERE ${cond}))[1:5]`
    : `(array_agg(t.ctid ORDER BY t.ctid) FILTER (WHERE ${cond}))[1:5]::text[]`;
}

/** The sample keys of the rows the scan named: their id (as `sampleIds` prints it) first, then the key columns. */
export function sampleFetchSql(from: string, key: string, partitioned: boolean): string {
  const id = partitioned ? `t.tableoid::text || ':' || t.ctid::text` : 't.ctid::text';
  return `SELECT ${id} AS id, ${key} FROM ${from} t WHERE t.ctid = ANY ($1::tid[])`;
}

/**
 * Foreign-key joins per scan. Measured on the 10M-row "many FKs into one parent" shape (2 cores,
 * load average 8-12, medians of 3): activities (5M rows, 4 FKs) and deals (3M, 4 FKs) each read
 * once with all their joins, 18.3 s for the whole audit; at most 2 FK joins per scan (each child
 * read twice), 14.8 s; the naive script 17.5 s. Past two joins the per-row cost of the longer
 * probe chain (every row carried through every join) exceeds a second read of a cached child, and
 * smaller scans spread better over the data connections. Re-measured idle with one data connection
 * (2026-12-01, same shape, medians of 3): audit 4.40 s with 2 joins, 4.98 s with 4, 4.88 s with 1.
 */
export const MAX_FK_JOINS = 2;

/**
 * Merges the pieces of each child table into as few queries as MAX_FK_JOINS allows (the other
 * scans stay as they are), in plan order: `SELECT count(*) FILTER (WHERE bad_i) AS c_i, <first 5
 * ids> AS m_i, … FROM child t LEFT JOIN … WHERE bad_0 OR bad_1 …`. One read of the child answers
 * its NULL count, its unknown tenants (a join to the small tenant table, not counted against the
 * limit) and up to MAX_FK_JOINS of the FKs it holds; each parent is hashed once per query that
 * references it.
 */
export function fuseScans(scans: readonly TableScan[]): TableScan[] {
  const out: (TableScan | TableScan[])[] = [];
  const chunks = new Map<string, TableScan[][]>();
  for (const scan of scans) {
    if (!scan.fuse) {
      out.push(scan);
      continue;
    }
    let list = chunks.get(scan.fuse.table);
    if (!list) {
      list = [];
      chunks.set(scan.fuse.table, list);
    }
    const fkJoins = (chunk: TableScan[]) => chunk.filter((g) => g.fuse!.fkJoin).length;
    // Pieces without an FK join go to the table's first query; an FK join to the first with room.
    let chunk = scan.fuse.fkJoin ? list.find((c) => fkJoins(c) < MAX_FK_JOINS) : list[0];
    if (!chunk) {
      chunk = [];
      list.push(chunk);
      out.push(chunk);
    }
    chunk.push(scan);
  }
  return out.map((item) => {
    if (!Array.isArray(item)) return item;
    const fused = fuseGroup(item);
    return item.some((g) => g.provenBy || g.fuse!.lookup) ? { ...fused, pieces: item } : fused;
  });
}

/**
 * One query over the pieces of one child table (fuseScans; again at run time without the pieces a
 * trigger proved, and with the direct lookups the run decided on: `shapes`, by LookupSpec id).
 * A lookup's array is built once in a MATERIALIZED CTE (l<n>) and read as `(SELECT a FROM l<n>)`.
 */
export function fuseGroup(group: readonly TableScan[], shapes?: ReadonlyMap<string, LookupShape>): TableScan {
  const first = group[0].fuse!;
  const parts = group.flatMap((g) => g.parts);
  const ctes: string[] = [];
  const values: unknown[] = [];
  const arrays = new Map<string, { array: string; lo: string; hi: string }>();
  const conditions: string[] = [];
  const joins: string[] = [];
  for (const g of group) {
    const lookup = g.fuse!.lookup;
    const shape = lookup ? shapes?.get(lookup.spec.id) : undefined;
    if (!lookup || !shape) {
      conditions.push(...g.fuse!.conditions);
      joins.push(...g.fuse!.joins);
      continue;
    }
    let ref = arrays.get(lookup.spec.id);
    if (!ref) {
      values.push(shape.lo, shape.hi);
      const lo = `$${values.length - 1}`;
      const hi = `$${values.length}`;
      const name = ident(`l${arrays.size}`);
      ctes.push(`${name} AS MATERIALIZED (${lookupCteBody(lookup.spec, shape, lo, hi)})`);
      ref = { array: `(SELECT ${name}.a FROM ${name})`, lo, hi };
      arrays.set(lookup.spec.id, ref);
    }
    conditions.push(lookup.condition(lookedUp(lookup.spec, lookup.column, ref.array, ref.lo, ref.hi)));
  }
  const parents = [...new Set(group.flatMap((g) => g.fuse!.parents))];
  const tables = [...new Set(group.flatMap((g) => g.tables))];
  const select = conditions.map((c, i) => `count(*) FILTER (WHERE ${c}) AS c${i}, ${sampleIds(first.partitioned, c)} AS m${i}`);
  const sql = [
    ...(ctes.length > 0 ? [`WITH ${ctes.join(',\n     ')}`] : []),
    `SELECT ${select.join(',\n       ')}`,
    `  FROM ${first.from} t`,
    ...joins.map((j) => `  ${j}`),
    ` WHERE ${conditions.map((c) => `(${c})`).join('\n    OR ')}`,
  ].join('\n');
  const rows = first.rows + group.reduce((n, g) => n + g.fuse!.parentRows.reduce((a, b) => a + b, 0), 0);
  return { target: parents.length > 0 ? `${first.table} → ${parents.join(', ')}` : first.table, tables, sql, parts, rows, ...(values.length > 0 ? { values } : {}) };
}

/** A piece's lookup form: `template` (its check's @lookup_condition) filled with `values` and, per query, the looked-up value. */
export function lookupForm(spec: LookupSpec, column: string, template: string, values: Record<string, string>): NonNullable<FusePiece['lookup']> {
  return { spec, column, condition: (lookedUpValue) => fillTemplate(template, { ...values, looked_up: lookedUpValue }) };
}

/** pg_class.reltuples, 0 when never analyzed (or a partitioned parent). */
export const estimated = (table: CatalogTable): number => Math.max(0, table.estimatedRows);

export const isPartitioned = (table: CatalogTable): boolean => table.kind === 'partitioned-table';

function keyList(table: CatalogTable): string {
  return table.primaryKey && table.primaryKey.length > 0 ? table.primaryKey.map((c) => `t.${ident(c)}`).join(', ') : 't.ctid';
}

/** True when the FK includes the tenant column mapped onto the parent's tenant column. */
function fkCoversTenant(fk: CatalogConstraint, tenantColumn: string): boolean {
  return fk.columns.some((c, i) => c === tenantColumn && fk.references!.columns[i] === tenantColumn);
}

/** The scoped tables that exist and have the tenant column, with the quoted fragments every template uses. */
export function tenantTables({ manifest, catalog }: DataPlanContext) {
  const { schema } = manifest;
  const tenantColumn = manifest.tenant.column;
  return manifest.tables.flatMap((entry) => {
    const table = findRelation(catalog, schema, entry.name);
    const column = table ? findColumn(table, tenantColumn) : undefined;
    if (!table || !column) return [];
    return [{ entry, table, column, base: { table: qualified(schema, entry.name), tenant: ident(tenantColumn), key: keyList(table) } }];
  });
}

/** null-tenant: one NULL count per table whose tenant column is nullable (every table, deep). */
export const planNullTenant: DataPlanner = (check, context, plan) => {
  const { schema } = context.manifest;
  const tenantColumn = context.manifest.tenant.column;
  for (const { entry, table, column, base } of tenantTables(context)) {
    if (entry.sharedRows) {
      // Not even with --deep: on a shared_rows table a NULL tenant is a shared row, not a defect.
      plan.proofs.push({ check: check.id, table: entry.name, object: null, status: 'proven', proof: `shared_rows: a NULL ${tenantColumn} marks a row every tenant shares` });
      continue;
    }
    if (column.notNull && !context.deep) {
      plan.proofs.push({ check: check.id, table: entry.name, object: null, status: 'proven', proof: `${tenantColumn} is NOT NULL` });
      continue;
    }
    plan.proofs.push({ check: check.id, table: entry.name, object: null, status: 'scanned' });
    plan.scans.push({
      target: entry.name,
      tables: [entry.name],
      sql: '',
      fuse: {
        table: entry.name,
        from: base.table,
        parents: [],
        joins: [],
        conditions: [fillTemplate(check.sections.condition, base)],
        partitioned: isPartitioned(table),
        rows: estimated(table),
        parentRows: [],
      },
      parts: [
        {
          check: check.id,
          table: entry.name,
          object: null,
          sampleSql: sampleFetchSql(base.table, base.key, isPartitioned(table)),
          describe: (n) => `${n} row${n === 1 ? '' : 's'} of ${schema}.${entry.name} ha${n === 1 ? 's' : 've'} no ${tenantColumn}`,
        },
      ],
    });
  }
};

/**
 * cross-tenant-reference: per FK between scoped tables, unless a validated composite FK with the
 * tenant column proves it (not with deep: rows written with session_replication_role = replica
 * skip the FK's triggers). Each FK is a LEFT JOIN of its child's shared scan (fuseScans: at most
 * MAX_FK_JOINS of them per scan). A single-column FK into a shared_rows table carries the run-time
 * proof of migrate's guard triggers, child's and parent's (shared-ref-proof.ts): the task asks it and leaves the piece out.
 *
 * Per child, not per parent. Measured on the 10M-row benchmark shapes (bench/audit.ts, 2 cores,
 * load average 12-14 from other jobs), whole audit: many FKs into one parent, per parent (every FK
 * into a parent as a UNION ALL branch against one hash of it, plus separate NULL and unknown-tenant
 * scans) 26.4 s and 38.6 s vs per child 21.6 s and 23.5 s (naive script 20.7 s, 21.7 s; 2 rounds);
 * chain of 4, 90 s (with the sample cliff) vs 32 s. What the per-child scan saves is the extra reads
 * for the NULL and unknown-tenant counts and the UNION ALL's materialized branches; it does not
 * make the joins cheaper: the hash probes dominate (a cached 5M-row child scans in 0.2 s, each
 * join takes 1-1.5 s), and the 5-join scan of activities took 15.5-18.5 s vs 12.7-17.5 s for its
 * four joins and the NULL/unknown count as five separate queries (3 runs each): hence MAX_FK_JOINS.
 * A parent is hashed once per query that references it, which in these shapes never cost more
 * than the reads saved.
 */
export const planCrossTenant: DataPlanner = (crossCheck, context, plan) => {
  const { manifest, catalog } = context;
  const { schema } = manifest;
  const tenantColumn = manifest.tenant.column;
  const scopedNames = new Set(manifest.tables.map((t) => t.name));
  for (const { entry, table, column, base } of tenantTables(context)) {
    let alias = 0;
    for (const fk of foreignKeys(table)) {
      const ref = fk.references!;
      if (ref.schema !== schema || !scopedNames.has(ref.table)) continue;
      const parent = findRelation(catalog, schema, ref.table);
      if (!parent || !findColumn(parent, tenantColumn)) continue;
      const covers = fkCoversTenant(fk, tenantColumn);
      // Compare tenants through the non-tenant column pairs: joining a NOT VALID composite FK on
      // its tenant pair too would only ever meet same-tenant parents and miss every bad row.
      const pairs = fk.columns
        .map((c, i) => [c, ref.columns[i]] as const)
        .filter(([c, r]) => !(covers && c === tenantColumn && r === tenantColumn));
      if (pairs.length === 0) continue; // an FK on the tenant column alone cannot cross tenants
      if (covers && fk.validated && !context.deep) {
        plan.proofs.push({ check: crossCheck.id, table: entry.name, object: fk.name, status: 'proven', proof: 'validated composite foreign key' });
        continue;
      }
      const proof: DataProof = { check: crossCheck.id, table: entry.name, object: fk.name, status: 'scanned' };
      plan.proofs.push(proof);
      // Into a shared_rows table: the guard triggers migrate installs (child and parent) may prove it, asked at run time.
      const provenBy = sharedRefProvenBy(manifest, entry.name, fk, proof, context.deep);
      const referenced = pairs.map(([, r]) => r);
      // A join must not multiply child rows: the parent as it is only when those columns are unique in it.
      const uniqueInParent = parent.indexes.some(
        (i) => i.unique && i.valid && i.predicate === null && i.columns.every((c) => c !== null && referenced.includes(c)),
      );
      // Tenant columns of different types (text beside uuid: a tenant-column-type-mismatch finding)
      // may have no <> operator; compare their text forms rather than abort the whole audit.
      const parentColumn = findColumn(parent, tenantColumn)!;
      const comparable = parentColumn.typeOid === column.typeOid || (NUMERIC_TYPES.has(parentColumn.typeOid) && NUMERIC_TYPES.has(column.typeOid));
      const cast = comparable ? '' : '::text';
      const p = ident(`p${alias++}`);
      const values = {
        ...base,
        tenant: `${ident(tenantColumn)}${cast}`,
        parent: qualified(schema, ref.table),
        p,
        parent_tenant: `${ident(tenantColumn)}${cast}`,
        join: pairs.map(([c, r]) => `${p}.${ident(r)} = t.${ident(c)}`).join(' AND '),
        ref_columns: referenced.map((r) => `${p}.${ident(r)}`).join(', '),
      };
      // One integer key column into a unique integer key, integer tenants: the parent's tenant may
      // be read from an array instead (direct-lookup.ts; decided at run time).
      const childKey = pairs.length === 1 ? findColumn(table, pairs[0][0]) : undefined;
      const spec =
        uniqueInParent && childKey && isIntegerType(childKey.typeOid) && cast === '' ? lookupSpec(qualified(schema, ref.table), parent, pairs[0][1], tenantColumn) : undefined;
      plan.scans.push({
        target: entry.name,
        tables: [entry.name, ref.table],
        sql: '',
        fuse: {
          table: entry.name,
          from: base.table,
          parents: [ref.table],
          joins: [fillTemplate(uniqueInParent ? crossCheck.sections.fk_join : crossCheck.sections.grouped_join, values)],
          conditions: [fillTemplate(uniqueInParent ? crossCheck.sections.fk_condition : crossCheck.sections.grouped_condition, values)],
          partitioned: isPartitioned(table),
          fkJoin: true,
          rows: estimated(table),
          parentRows: [estimated(parent)],
          ...(spec ? { lookup: lookupForm(spec, `t.${ident(pairs[0][0])}`, crossCheck.sections.lookup_condition, values) } : {}),
        },
        ...(provenBy ? { provenBy } : {}),
        parts: [
          {
            check: crossCheck.id,
            table: entry.name,
            object: fk.name,
            sampleSql: sampleFetchSql(base.table, base.key, isPartitioned(table)),
            describe: (n) =>
              `${n} row${n === 1 ? '' : 's'} of ${schema}.${entry.name} reference${n === 1 ? 's' : ''} a ${ref.table} row of another tenant through ${fk.columns.join(', ')} (${fk.name})`,
          },
        ],
      });
    }
  }
};

/** duplicate-within-tenant: one grouping query per per-tenant key no valid unique index enforces (every key, deep). */
export const planDuplicates: DataPlanner = (dupCheck, context, plan) => {
  const tenantColumn = context.manifest.tenant.column;
  for (const { entry, table, base } of tenantTables(context)) {
    const keys = [
      ...entry.unique.map((key) => ({ cols: key.columns, where: key.where, singleton: false })),
      ...(entry.singleton ? [{ cols: [] as string[], where: undefined, singleton: true }] : []),
    ];
    for (const { cols: listed, where, singleton } of keys) {
      if (!listed.every((c) => findColumn(table, c))) continue;
      // A key that lists the tenant column itself: group by it once.
      const cols = listed.filter((c) => c !== tenantColumn);
      const group = [tenantColumn, ...cols];
      // A full unique index enforces a partial key too; a partial index only the same predicate.
      const covered = table.indexes.some(
        (i) =>
          i.unique &&
          i.valid &&
          (i.predicate === null || (where !== undefined && samePredicate(i.predicate, where))) &&
          i.columns.every((c) => c !== null && group.includes(c)),
      );
      if (covered && !context.deep) {
        plan.proofs.push({ check: dupCheck.id, table: entry.name, object: group.join(', '), status: 'proven', proof: 'a valid unique index enforces it' });
        continue;
      }
      plan.proofs.push({ check: dupCheck.id, table: entry.name, object: group.join(', '), status: 'scanned' });
      plan.duplicates.push({
        check: dupCheck.id,
        table: entry.name,
        rows: estimated(table),
        columns: cols,
        singleton,
        sql: fillTemplate(dupCheck.sections.query, {
          ...base,
          group_by: group.map((c) => `t.${ident(c)}`).join(', '),
          group_keys: group.map((c) => `g.${ident(c)}`).join(', '),
          // A partial key (`where`, the manifest's own SQL over the table) only constrains the rows it selects.
          not_null: [...group.map((c) => `t.${ident(c)} IS NOT NULL`), ...(where !== undefined ? [`(${where})`] : [])].join(' AND '),
        }),
      });
    }
  }
};

/** Two predicates as the same text once case, blanks and outer parentheses are set aside (pg_get_expr adds them). */
export function samePredicate(a: string, b: string): boolean {
  const norm = (x: string) => {
    let t = x.replace(/\s+/g, ' ').trim().toLowerCase();
    while (t.startsWith('(') && t.endsWith(')')) t = t.slice(1, -1).trim();
    return t;
  };
  return norm(a) === norm(b);
}
