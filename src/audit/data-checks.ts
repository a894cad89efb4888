// Plans the data checks (null-tenant, cross-tenant-reference, duplicate-within-tenant): one shared
// scan per table, and nothing at all where the catalog proves the defect impossible (unless deep).
import type { Catalog, CatalogConstraint, CatalogTable } from '../db/catalog.js';
import { findColumn, findRelation, foreignKeys } from '../db/catalog.js';
import { ident, qualified } from '../db/quote.js';
import type { Manifest } from '../config/manifest.js';
import { fillTemplate } from './sql-params.js';
import type { CheckDefinition, DataProof } from './types.js';

/**
 * One query that answers one or more checks: a NULL count of one table, or the cross-tenant counts
 * of every FK pointing at one parent key (one hash of the parent for all of them).
 */
export interface TableScan {
  /** What the query reads, for the run log: `deals`, or `contacts ← deals, activities, …`. */
  target: string;
  /** Every table the query reads. */
  tables: string[];
  /** One row; column c<i> answers parts[i]. */
  sql: string;
  parts: ScanPart[];
  /**
   * A catalog query (with its values) run first, in the same snapshot: when it returns a row the
   * scan is skipped and `proofs` become proven by `proof` (a polymorphic pair's enforcing trigger).
   */
  provenBy?: { sql: string; values: unknown[]; proof: string; proofs: DataProof[] };
}

export interface ScanPart {
  /** The check id the part answers. */
  check: string;
  /** The table the finding belongs to (the child, for cross-tenant-reference). */
  table: string;
  /** The FK constraint, for cross-tenant-reference. */
  object: string | null;
  /** Query for up to 5 sample keys, run only when the count is not 0. */
  sampleSql: string;
  /** The sample query takes $1: the first bad row's ctid, column m<i> of the scan. */
  sampleFromCtid?: boolean;
  /** The message, from the count (and the scan's row, for parts that return more than c<i>/m<i>). */
  describe: (count: number, row?: Record<string, unknown>) => string;
}

export interface DuplicateQuery {
  /** The check id it answers. */
  check: string;
  table: string;
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
const NUMERIC_TYPES = new Set([21, 23, 20, 1700]);

function keyList(table: CatalogTable): string {
  return table.primaryKey && table.primaryKey.length > 0 ? table.primaryKey.map((c) => `t.${ident(c)}`).join(', ') : 't.ctid';
}

/** True when the FK includes the tenant column mapped onto the parent's tenant column. */
function fkCoversTenant(fk: CatalogConstraint, tenantColumn: string): boolean {
  return fk.columns.some((c, i) => c === tenantColumn && fk.references!.columns[i] === tenantColumn);
}

interface ParentGroup {
  parent: string;
  referenced: string[];
  cast: string;
  branches: string[];
  parts: ScanPart[];
}

/** The scoped tables that exist and have the tenant column, with the quoted fragments every template uses. */
function tenantTables({ manifest, catalog }: DataPlanContext) {
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
  for (const { entry, column, base } of tenantTables(context)) {
    if (column.notNull && !context.deep) {
      plan.proofs.push({ check: check.id, table: entry.name, object: null, status: 'proven', proof: `${tenantColumn} is NOT NULL` });
      continue;
    }
    plan.proofs.push({ check: check.id, table: entry.name, object: null, status: 'scanned' });
    plan.scans.push({
      target: entry.name,
      tables: [entry.name],
      sql: fillTemplate(check.sections.count, base),
      parts: [
        {
          check: check.id,
          table: entry.name,
          object: null,
          sampleSql: fillTemplate(check.sections.sample, base),
          describe: (n) => `${n} row${n === 1 ? '' : 's'} of ${schema}.${entry.name} ha${n === 1 ? 's' : 've'} no ${tenantColumn}`,
        },
      ],
    });
  }
};

/**
 * cross-tenant-reference: per FK between scoped tables, unless a validated composite FK with the
 * tenant column proves it (not with deep: rows written with session_replication_role = replica
 * skip the FK's triggers). Counted per referenced parent key: one query reads every FK pointing at
 * it (UNION ALL) against one hash of the parent.
 */
export const planCrossTenant: DataPlanner = (crossCheck, context, plan) => {
  const { manifest, catalog } = context;
  const { schema } = manifest;
  const tenantColumn = manifest.tenant.column;
  const scopedNames = new Set(manifest.tables.map((t) => t.name));
  const groups = new Map<string, ParentGroup>();
  for (const { entry, table, column, base } of tenantTables(context)) {
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
      plan.proofs.push({ check: crossCheck.id, table: entry.name, object: fk.name, status: 'scanned' });
      const referenced = pairs.map(([, r]) => r);
      // A join must not multiply child rows: only when those columns are unique in the parent.
      const uniqueInParent = parent.indexes.some(
        (i) => i.unique && i.valid && i.predicate === null && i.columns.every((c) => c !== null && referenced.includes(c)),
      );
      // Tenant columns of different types (text beside uuid: a tenant-column-type-mismatch finding)
      // may have no <> operator; compare their text forms rather than abort the whole audit.
      const parentColumn = findColumn(parent, tenantColumn)!;
      const comparable = parentColumn.typeOid === column.typeOid || (NUMERIC_TYPES.has(parentColumn.typeOid) && NUMERIC_TYPES.has(column.typeOid));
      const cast = comparable ? '' : '::text';
      const withAlias = (alias: string) => ({
        ...base,
        tenant: `${ident(tenantColumn)}${cast}`,
        parent: qualified(schema, ref.table),
        p: alias,
        parent_tenant: `${ident(tenantColumn)}${cast}`,
        join: pairs.map(([c, r]) => `${alias}.${ident(r)} = t.${ident(c)}`).join(' AND '),
      });
      const part: ScanPart = {
        check: crossCheck.id,
        table: entry.name,
        object: fk.name,
        sampleSql: fillTemplate(uniqueInParent ? crossCheck.sections.sample : crossCheck.sections.groupsample, withAlias(ident('p'))),
        sampleFromCtid: uniqueInParent,
        describe: (n) =>
          `${n} row${n === 1 ? '' : 's'} of ${schema}.${entry.name} reference${n === 1 ? 's' : ''} a ${ref.table} row of another tenant through ${fk.columns.join(', ')} (${fk.name})`,
      };
      if (!uniqueInParent) {
        const values = { ...withAlias(ident('p')), ref_columns: referenced.map((r) => ident(r)).join(', ') };
        plan.scans.push({
          target: `${ref.table} ← ${entry.name}`,
          tables: [entry.name, ref.table],
          sql: fillTemplate(crossCheck.sections.grouped, values),
          parts: [part],
        });
        continue;
      }
      // Branches of one UNION ALL must have the same column types: FKs whose columns differ in
      // type from the others get a query of their own rather than a cast that could change a value.
      const childTypes = [...pairs.map(([c]) => findColumn(table, c)?.typeOid ?? 0), column.typeOid].join(',');
      const key = JSON.stringify([ref.table, referenced, cast, childTypes]);
      let group = groups.get(key);
      if (!group) {
        group = { parent: ref.table, referenced, cast, branches: [], parts: [] };
        groups.set(key, group);
      }
      const k = String(group.parts.length);
      group.branches.push(
        fillTemplate(crossCheck.sections.branch, {
          ...withAlias(ident('p')),
          k,
          refs: pairs.map(([c], i) => `t.${ident(c)} AS r${i + 1}`).join(', '),
        }),
      );
      group.parts.push(part);
    }
  }
  for (const group of groups.values()) {
    const p = ident('p');
    const children = [...new Set(group.parts.map((part) => part.table))];
    plan.scans.push({
      target: `${group.parent} ← ${children.join(', ')}`,
      tables: [group.parent, ...children.filter((c) => c !== group.parent)],
      parts: group.parts,
      sql: fillTemplate(crossCheck.sections.by_parent, {
        counts: group.parts.map((_, k) => fillTemplate(crossCheck.sections.count, { k: String(k) })).join(',\n       '),
        branches: group.branches.join('\n        UNION ALL\n        '),
        parent: qualified(schema, group.parent),
        p,
        parent_join: group.referenced.map((r, i) => `${p}.${ident(r)} = s.r${i + 1}`).join(' AND '),
        parent_tenant: `${ident(tenantColumn)}${group.cast}`,
      }),
    });
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
        columns: cols,
        singleton,
        sql: fillTemplate(dupCheck.sections.query, {
          ...base,
          group_by: group.map((c) => `t.${ident(c)}`).join(', '),
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
