// Which tables a backfill touches, where each derives its tenant from, and in which order (parents first).
import { findColumn, findRelation, foreignKeys, type CatalogTable } from '../db/catalog.js';
import type { LiveContext } from '../config/live-context.js';
import { requireScopedTable } from '../config/live-context.js';
import { TenancyError } from '../errors.js';
import { columnType, primaryKeyColumns, type KeyColumn } from '../db/table-keys.js';
import { polymorphicSources, type PolymorphicSourceInfo } from './polymorphic-fill.js';
import { CTID_KEY, splitPerPartition } from './partition-walk.js';

/** One `backfill` FK column of a table: the parent it points at and how to read that parent's tenant. */
export interface BackfillSource {
  column: string;
  constraint: string;
  parentTable: string;
  parentColumn: string;
  /** The parent's column holding the tenant: the tenant key for the tenant table, else its tenant column. */
  parentTenantColumn: string;
  parentTenantType: string;
  parentIsTenantTable: boolean;
  /** The parent is the table itself (folders.parent_id). */
  selfReference: boolean;
  /** Set for a target of a polymorphic pair (src/backfill/polymorphic-fill.ts): `column` is its id column. */
  polymorphic?: PolymorphicSourceInfo;
}

/** A single-column FK between two tables that both carry a tenant (cross-tenant references live here). */
export interface ScopedForeignKey {
  table: string;
  column: string;
  columnType: string;
  nullable: boolean;
  constraint: string;
  parentTable: string;
  parentColumn: string;
  parentTenantColumn: string;
  parentTenantType: string;
}

export interface BackfillTablePlan {
  schema: string;
  table: string;
  tenantColumn: string;
  tenantType: string;
  key: KeyColumn[];
  sources: BackfillSource[];
  /** Scoped FKs from this table (for cross-tenant checks and --detach-cross-tenant). */
  scopedForeignKeys: ScopedForeignKey[];
  catalog: CatalogTable;
  /** No primary key: walked by ctid pages (partition-walk.ts); its changes cannot be undone. */
  keyless?: boolean;
  /** A leaf partition of this scoped table (the plan of a partitioned table is split per leaf). */
  partitionOf?: string;
}

/** A strongly connected group of tables; `cyclic` groups repeat passes until one places nothing. */
export interface BackfillGroup {
  tables: BackfillTablePlan[];
  cyclic: boolean;
}

export interface BackfillPlan {
  schema: string;
  tenantTable: string;
  tenantKey: string;
  tenantColumn: string;
  tenantType: string;
  /** Parents first. */
  groups: BackfillGroup[];
  /** Scoped tables the manifest lists that the database lacks (skipped). */
  missingTables: string[];
  /** Tables left out on purpose (no primary key, nothing to fill), with the reason. */
  skippedTables: { table: string; reason: string }[];
}

function expandHint(): string {
  return 'add the tenant column first with the expand migration: `crm-tenancy migrate up`';
}

/**
 * Builds the plan: resolves every manifest `backfill` column to its parent, checks the tenant
 * columns exist (exit 2 otherwise), and orders tables parents first (Tarjan's SCCs, so a
 * self-reference or a cycle becomes one group processed in repeated passes). Tables in `skip`
 * (name → reason) are left out and listed as skipped.
 */
export function buildBackfillPlan(live: LiveContext, onlyTable?: string, skip: ReadonlyMap<string, string> = new Map()): BackfillPlan {
  const { manifest, catalog } = live;
  const { schema, tenant } = manifest;
  if (onlyTable !== undefined) requireScopedTable(manifest, onlyTable);
  const scoped = new Set(manifest.tables.map((t) => t.name));
  const missingTables: string[] = [];
  const skippedTables: { table: string; reason: string }[] = [];
  const tables: BackfillTablePlan[] = [];

  const tenantColumnOf = (rel: CatalogTable) => findColumn(rel, tenant.column);

  for (const entry of manifest.tables) {
    if (onlyTable !== undefined && entry.name !== onlyTable) continue;
    const rel = findRelation(catalog, schema, entry.name);
    if (!rel) {
      missingTables.push(entry.name);
      continue;
    }
    const skipped = skip.get(entry.name);
    if (skipped !== undefined) {
      skippedTables.push({ table: entry.name, reason: skipped });
      continue;
    }
    const tenantCol = tenantColumnOf(rel);
    if (!tenantCol) {
      throw new TenancyError(
        'manifest-live',
        `${schema}.${entry.name} has no tenant column ${tenant.column}; backfill cannot run before it exists`,
        { hint: expandHint() },
      );
    }
    const keyless = (rel.primaryKey?.length ?? 0) === 0;
    const key = keyless ? CTID_KEY : primaryKeyColumns(rel, 'backfill');
    const fks = foreignKeys(rel);
    const sources: BackfillSource[] = entry.backfill.map((column) => {
      // After the composite-keys migration the FK is (tenant column, column) → parent (tenant, key).
      const fk =
        fks.find((c) => c.columns.length === 1 && c.columns[0] === column) ??
        fks.find((c) => c.columns.length === 2 && c.columns.includes(column) && c.columns.includes(tenant.column));
      if (!fk) {
        throw new TenancyError('manifest-live', `tables.${entry.name}.backfill: ${schema}.${entry.name}.${column} is not a foreign key`);
      }
      const ref = fk.references!;
      const parent = findRelation(catalog, ref.schema, ref.table);
      const isTenantTable = ref.schema === schema && ref.table === tenant.table;
      if (!parent || ref.schema !== schema || (!isTenantTable && !scoped.has(ref.table))) {
        throw new TenancyError(
          'manifest-live',
          `tables.${entry.name}.backfill: ${column} references ${ref.schema}.${ref.table}, which is neither the tenant table nor a scoped table; it cannot give a tenant`,
          { hint: 'list only foreign keys to scoped tables (or to the tenant table) under backfill' },
        );
      }
      const parentTenantColumn = isTenantTable ? tenant.key : tenant.column;
      if (!findColumn(parent, parentTenantColumn)) {
        throw new TenancyError(
          'manifest-live',
          `${schema}.${ref.table} has no tenant column ${tenant.column}; ${entry.name}.${column} derives its tenant from it`,
          { hint: expandHint() },
        );
      }
      return {
        column,
        constraint: fk.name,
        parentTable: ref.table,
        parentColumn: ref.columns[fk.columns.indexOf(column)],
        parentTenantColumn,
        parentTenantType: columnType(parent, parentTenantColumn),
        parentIsTenantTable: isTenantTable,
        selfReference: ref.table === entry.name && ref.schema === schema,
      };
    });
    sources.push(...polymorphicSources(live, entry));
    const scopedForeignKeys: ScopedForeignKey[] = [];
    for (const fk of fks) {
      const ref = fk.references!;
      if (fk.columns.length !== 1 || ref.schema !== schema || !scoped.has(ref.table)) continue;
      if (fk.columns[0] === tenant.column) continue;
      const parent = findRelation(catalog, schema, ref.table);
      if (!parent || !tenantColumnOf(parent)) continue;
      const col = findColumn(rel, fk.columns[0])!;
      scopedForeignKeys.push({
        table: entry.name,
        column: col.name,
        columnType: col.type,
        nullable: !col.notNull,
        constraint: fk.name,
        parentTable: ref.table,
        parentColumn: ref.columns[0],
        parentTenantColumn: tenant.column,
        parentTenantType: columnType(parent, tenant.column),
      });
    }
    const whole = { schema, table: entry.name, tenantColumn: tenant.column, tenantType: tenantCol.type, key, sources, scopedForeignKeys, catalog: rel };
    tables.push(...splitPerPartition(catalog, whole, keyless));
  }

  return {
    schema,
    tenantTable: tenant.table,
    tenantKey: tenant.key,
    tenantColumn: tenant.column,
    tenantType: live.tenantType,
    groups: orderParentsFirst(tables),
    missingTables,
    skippedTables,
  };
}

/** Tarjan's strongly connected components over "child derives from parent"; emitted parents first. */
export function orderParentsFirst(tables: BackfillTablePlan[]): BackfillGroup[] {
  const byName = new Map(tables.map((t) => [t.table, t]));
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const groups: BackfillGroup[] = [];
  let counter = 0;

  // A partitioned parent is planned as its leaves: a child derived from it comes after all of them.
  const leaves = new Map<string, string[]>();
  for (const t of tables) if (t.partitionOf) leaves.set(t.partitionOf, [...(leaves.get(t.partitionOf) ?? []), t.table]);
  const parentsOf = (t: BackfillTablePlan) => [
    ...new Set(
      t.sources
        .filter((s) => !s.parentIsTenantTable)
        .flatMap((s) => (byName.has(s.parentTable) ? [s.parentTable] : (leaves.get(s.parentTable) ?? []))),
    ),
  ];

  const visit = (name: string): void => {
    index.set(name, counter);
    low.set(name, counter);
    counter++;
    stack.push(name);
    onStack.add(name);
    for (const parent of parentsOf(byName.get(name)!)) {
      if (!index.has(parent)) {
        visit(parent);
        low.set(name, Math.min(low.get(name)!, low.get(parent)!));
      } else if (onStack.has(parent)) {
        low.set(name, Math.min(low.get(name)!, index.get(parent)!));
      }
    }
    if (low.get(name) === index.get(name)) {
      const members: BackfillTablePlan[] = [];
      let top: string;
      do {
        top = stack.pop()!;
        onStack.delete(top);
        members.unshift(byName.get(top)!);
      } while (top !== name);
      const cyclic = members.length > 1 || members[0].sources.some((s) => s.selfReference);
      // Tarjan emits a component after everything it reaches: with edges child → parent, parents come first.
      groups.push({ tables: members, cyclic });
    }
  };
  for (const t of tables) if (!index.has(t.table)) visit(t.table);
  return groups;
}
