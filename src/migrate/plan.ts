// What the tenancy rollout still needs per scoped table: compares the manifest with the live catalog.
import { tableSuggestion, type LiveContext } from '../config/live-context.js';
import {
  findColumn,
  findRelation,
  foreignKeys,
  isTableLike,
  type CatalogConstraint,
  type CatalogIndex,
  type CatalogTable,
} from '../db/catalog.js';
import { displayName, escapeText } from '../db/quote.js';
import { fitIdentifier, NameAllocator } from './object-names.js';

export { fitIdentifier, NameAllocator } from './object-names.js';
import type { MigrationPhase } from './migration-file.js';
import { predicateMatches } from './predicate-match.js';
import { polymorphicSteps, type PlanExtras, type PolymorphicStep } from './plan-polymorphic.js';
import { viewSteps, type ViewStep } from './plan-views.js';
import { sharedRefSteps, type SharedRefStep } from './plan-shared-refs.js';
import { parentKeyRefusal, partitionKeyAllows, partitionsOf, type PartitionTarget } from './plan-partitions.js';

export type { PlanExtras, PolymorphicStep } from './plan-polymorphic.js';

/** A foreign key between two scoped tables that composite keys replace. */
export interface ScopedForeignKey {
  table: string;
  column: string;
  parent: string;
  parentKey: string;
  constraint: CatalogConstraint;
}

export type PlanStep =
  | { kind: 'add-column'; table: string }
  | { kind: 'set-default'; table: string }
  /** `partitions`: a partitioned table (PostgreSQL refuses a NOT VALID FK on it): the FK goes on each partition first. */
  | { kind: 'add-tenant-fk'; table: string; name: string; partitions?: PartitionTarget[] }
  | { kind: 'drop-invalid-index'; table: string; index: string }
  | { kind: 'create-index'; table: string; name: string; partitions?: PartitionTarget[] }
  | { kind: 'validate-tenant-fk'; table: string; name: string; partitions?: PartitionTarget[] }
  | { kind: 'not-null'; table: string; checkName: string }
  | { kind: 'unique'; table: string; columns: string[]; name: string; singleton: boolean; where?: string; partitions?: PartitionTarget[] }
  | PolymorphicStep
  | SharedRefStep
  | ViewStep
  /** `partitions`: a partitioned parent: its unique index ON ONLY, built per partition and attached (no constraint). */
  | { kind: 'parent-key'; table: string; key: string; indexName: string; constraintName: string; partitions?: PartitionTarget[] }
  | {
      kind: 'composite-fk';
      /** A partitioned child: the FK goes on each partition NOT VALID, is validated there, then added to the parent (which adopts them). */
      partitions?: PartitionTarget[];
      table: string;
      column: string;
      parent: string;
      parentKey: string;
      name: string;
      /** The single-column FK it replaces (dropped once the composite one is validated). */
      old: CatalogConstraint | null;
      /** Composite FK already there (NOT VALID) from an earlier run: only validate/drop. */
      exists: 'no' | 'not-valid' | 'valid';
    };

export const STEP_PHASE: Record<PlanStep['kind'], MigrationPhase> = {
  'add-column': 'expand',
  'set-default': 'expand',
  'add-tenant-fk': 'expand',
  'drop-invalid-index': 'index',
  'create-index': 'index',
  'validate-tenant-fk': 'validate',
  'not-null': 'validate',
  unique: 'validate',
  polymorphic: 'validate',
  view: 'views',
  'parent-key': 'composite',
  'composite-fk': 'composite',
  'shared-ref': 'composite',
};

/** The stable id of a step; a pending migration file lists the ids it provides. */
export function stepId(step: PlanStep): string {
  switch (step.kind) {
    case 'add-column':
      return `column:${step.table}`;
    case 'set-default':
      return `default:${step.table}`;
    case 'add-tenant-fk':
      return `fk:${step.table}`;
    case 'drop-invalid-index':
      return `drop-invalid-index:${step.table}:${step.index}`;
    case 'create-index':
      return `index:${step.table}`;
    case 'validate-tenant-fk':
      return `fk-valid:${step.table}`;
    case 'not-null':
      return `not-null:${step.table}`;
    case 'unique':
      return `unique:${step.table}:${JSON.stringify(step.columns)}${step.where !== undefined ? `:${step.where}` : ''}`;
    case 'polymorphic':
      return `polymorphic:${step.table}:${step.typeColumn}:${step.idColumn}`;
    case 'view':
      return `view:${step.schema}:${step.table}`;
    case 'parent-key':
      return `parent-key:${step.table}`;
    case 'composite-fk':
      return `composite-fk:${step.table}:${step.column}`;
    case 'shared-ref':
      return `shared-ref:${step.table}:${step.column}`;
  }
}

export interface SkippedTable {
  table: string;
  reason: string;
}

export interface TenancyPlan {
  steps: PlanStep[];
  skipped: SkippedTable[];
}

/** The tenant-column state of one table, as the catalog shows it. */
export interface TableTenancyState {
  table: string;
  exists: boolean;
  column: boolean;
  columnType: string | null;
  default: boolean;
  /** The single-column FK from the tenant column to the tenant table. */
  tenantFk: CatalogConstraint | null;
  index: boolean;
  invalidIndexes: CatalogIndex[];
  notNull: boolean;
  /** Manifest unique keys (tenant column first) and whether a valid unique index covers each. */
  uniqueKeys: { columns: string[]; present: boolean; singleton: boolean; where?: string }[];
}

const sameSet = (a: readonly (string | null)[], b: readonly string[]): boolean =>
  a.length === b.length && b.every((c) => a.includes(c));

/** Reads one scoped table's tenancy state out of the catalog. */
export function tableTenancyState(live: LiveContext, name: string): TableTenancyState {
  const { manifest } = live;
  const c = manifest.tenant.column;
  const table = findRelation(live.catalog, manifest.schema, name);
  const entry = manifest.tables.find((t) => t.name === name);
  const col = table ? findColumn(table, c) : undefined;
  const keys: { columns: string[]; singleton: boolean; where?: string }[] = [];
  if (entry?.singleton) keys.push({ columns: [c], singleton: true });
  for (const key of entry?.unique ?? []) {
    keys.push({ columns: [c, ...key.columns.filter((x) => x !== c)], singleton: false, ...(key.where !== undefined ? { where: key.where } : {}) });
  }
  const usable = (i: CatalogIndex) => i.valid && i.predicate === null && !i.columns.includes(null);
  // An equivalent unique index (same columns in any order; for a partial key the same predicate, or none) is enough.
  const enforces = (i: CatalogIndex, k: { columns: string[]; where?: string }) =>
    i.valid && i.unique && !i.columns.includes(null) && sameSet(i.columns, k.columns) && predicateMatches(i.predicate, k.where);
  return {
    table: name,
    exists: Boolean(table),
    column: Boolean(col),
    columnType: col?.type ?? null,
    default: Boolean(col?.default),
    tenantFk: table ? tenantForeignKey(live, table) : null,
    index: Boolean(table?.indexes.some((i) => usable(i) && i.columns[0] === c)),
    invalidIndexes: table?.indexes.filter((i) => !i.valid && i.columns[0] === c) ?? [],
    notNull: Boolean(col?.notNull),
    uniqueKeys: keys.map((k) => ({
      ...k,
      present: Boolean(table?.indexes.some((i) => enforces(i, k))),
    })),
  };
}

function tenantForeignKey(live: LiveContext, table: CatalogTable): CatalogConstraint | null {
  const { schema, tenant } = live.manifest;
  return (
    foreignKeys(table).find(
      (fk) =>
        fk.columns.length === 1 &&
        fk.columns[0] === tenant.column &&
        fk.references?.schema === schema &&
        fk.references.table === tenant.table &&
        fk.references.columns.length === 1 &&
        fk.references.columns[0] === tenant.key,
    ) ?? null
  );
}

/**
 * Single-column FKs from `table` to scoped tables (the ones composite keys replace or already replaced).
 * A parent with shared rows (NULL tenant) keeps its single-column FK: rows of every tenant may reference
 * a shared row, which no (tenant, id) key could match.
 */
export function scopedForeignKeys(live: LiveContext, table: CatalogTable): ScopedForeignKey[] {
  const { schema, tenant } = live.manifest;
  const scoped = new Set(live.manifest.tables.filter((t) => !t.sharedRows).map((t) => t.name));
  const out: ScopedForeignKey[] = [];
  for (const fk of foreignKeys(table)) {
    const ref = fk.references;
    if (!ref || ref.schema !== schema || !scoped.has(ref.table)) continue;
    if (fk.columns.length !== 1 || ref.columns.length !== 1 || fk.columns[0] === tenant.column) continue;
    out.push({ table: table.name, column: fk.columns[0], parent: ref.table, parentKey: ref.columns[0], constraint: fk });
  }
  return out;
}

/** The composite FK (tenant, column) → parent (tenant, key) on `table`, if any. */
export function compositeForeignKey(
  live: LiveContext,
  table: CatalogTable,
  column: string,
  parent: string,
  parentKey: string,
): CatalogConstraint | undefined {
  const c = live.manifest.tenant.column;
  return foreignKeys(table).find((fk) => {
    const ref = fk.references;
    if (!ref || ref.table !== parent || ref.schema !== live.manifest.schema || fk.columns.length !== 2) return false;
    const ci = fk.columns.indexOf(c);
    const xi = fk.columns.indexOf(column);
    return ci >= 0 && xi >= 0 && ref.columns[ci] === c && ref.columns[xi] === parentKey;
  });
}

/**
 * Whether a foreign key can reference `table` (tenant, key): a UNIQUE/PRIMARY KEY constraint on exactly
 * those columns, or a valid, full, non-deferrable unique index on them (PostgreSQL accepts either, in
 * any column order).
 */
export function hasParentKey(live: LiveContext, table: CatalogTable, key: string): boolean {
  const cols = [live.manifest.tenant.column, key];
  if (table.constraints.some((c) => (c.type === 'unique' || c.type === 'primary-key') && !c.deferrable && sameSet(c.columns, cols))) return true;
  const deferrable = new Set(table.constraints.filter((c) => c.deferrable).map((c) => c.name));
  return table.indexes.some(
    (i) => i.valid && i.unique && i.predicate === null && sameSet(i.columns, cols) && !(i.constraint && deferrable.has(i.constraint)),
  );
}

/**
 * Everything the manifest asks for that the live catalog lacks, as ordered steps. Steps whose id is in
 * `alreadyPending` (provided by migration files not yet run) are left out.
 */
export function planTenancy(live: LiveContext, alreadyPending: ReadonlySet<string> = new Set(), extras: PlanExtras = {}): TenancyPlan {
  const { manifest, catalog } = live;
  const c = manifest.tenant.column;
  const steps: PlanStep[] = [];
  const skipped: SkippedTable[] = [];
  const names: string[] = [];
  for (const rel of catalog.relations.values()) {
    if (rel.schema !== manifest.schema) continue;
    names.push(rel.name);
    for (const i of rel.indexes) names.push(i.name);
  }
  const relNames = new NameAllocator(names);
  const constraintNames = new Map<string, NameAllocator>();
  const conNames = (t: CatalogTable | undefined, name: string) => {
    let alloc = constraintNames.get(name);
    if (!alloc) {
      alloc = new NameAllocator(t?.constraints.map((x) => x.name) ?? []);
      constraintNames.set(name, alloc);
    }
    return alloc;
  };
  const push = (step: PlanStep) => {
    if (!alreadyPending.has(stepId(step))) steps.push(step);
  };

  const usable: string[] = [];
  for (const entry of manifest.tables) {
    const table = findRelation(catalog, manifest.schema, entry.name);
    if (!table) {
      skipped.push({ table: entry.name, reason: `table ${displayName(manifest.schema, entry.name)} does not exist${tableSuggestion(catalog, manifest.schema, entry.name)}` });
      continue;
    }
    if (!isTableLike(table)) {
      skipped.push({ table: entry.name, reason: `${displayName(manifest.schema, entry.name)} is a ${table.kind}, not a table` });
      continue;
    }
    // A partitioned table: the column, default and NOT NULL go on the parent (they propagate); foreign
    // keys and indexes are built partition by partition and then attached to the parent's.
    const parts = table.kind === 'partitioned-table' ? partitionsOf(live, table) : undefined;
    if (parts === null) {
      skipped.push({ table: entry.name, reason: 'a partition of it is partitioned itself (several levels): not generated, do it by hand' });
      continue;
    }
    const withParts = (names?: (p: PartitionTarget) => string) =>
      parts ? { partitions: parts.map((p) => ({ ...p, ...(names ? { index: names(p) } : {}) })) } : {};
    if (table.partitionOf) {
      skipped.push({ table: entry.name, reason: 'a partition: its parent carries the tenant column' });
      continue;
    }
    const state = tableTenancyState(live, entry.name);
    if (state.column && state.columnType !== live.tenantType) {
      skipped.push({
        table: entry.name,
        reason: `${escapeText(c)} is ${escapeText(state.columnType ?? '')}, but ${displayName(manifest.tenant.table, manifest.tenant.key)} is ${escapeText(live.tenantType)}; change the type by hand first`,
      });
      continue;
    }
    usable.push(entry.name);
    if (!state.column) push({ kind: 'add-column', table: entry.name });
    // A column already NOT NULL is filled and written by the application: a default (an ACCESS EXCLUSIVE
    // lock) would change nothing.
    else if (!state.default && !state.notNull) push({ kind: 'set-default', table: entry.name });
    const fkName = state.tenantFk?.name ?? conNames(table, entry.name).allocate([entry.name, c], 'fkey');
    if (!state.tenantFk) push({ kind: 'add-tenant-fk', table: entry.name, name: fkName, ...withParts() });
    // An INVALID leftover under the name we would use is dropped by the build's own guard (and the name
    // reused); other INVALID indexes on the tenant column are dropped explicitly.
    const indexName = fitIdentifier(`${entry.name}_${c}_idx`);
    const reuse = !state.index && state.invalidIndexes.some((i) => i.name === indexName);
    for (const leftover of state.invalidIndexes) {
      // A partitioned index stays INVALID until every partition's index is attached: finished, not dropped.
      if (parts) continue;
      if (!(reuse && leftover.name === indexName)) push({ kind: 'drop-invalid-index', table: entry.name, index: leftover.name });
    }
    if (!state.index) {
      const name = reuse || (parts && state.invalidIndexes.some((i) => i.name === indexName)) ? indexName : relNames.allocate([entry.name, c], 'idx');
      push({ kind: 'create-index', table: entry.name, name, ...withParts((p) => relNames.allocate([p.name, c], 'idx')) });
    }
    if (!state.tenantFk?.validated) push({ kind: 'validate-tenant-fk', table: entry.name, name: fkName, ...withParts() });
    // shared_rows: a NULL tenant is a row every tenant may read, so the column stays nullable.
    if (!state.notNull && !entry.sharedRows) {
      push({ kind: 'not-null', table: entry.name, checkName: conNames(table, entry.name).allocate([entry.name, c], 'not_null_check') });
    }
    for (const key of state.uniqueKeys) {
      if (key.present) continue;
      if (parts && !partitionKeyAllows(extras.partitionKeys?.get(entry.name), key.columns)) {
        skipped.push({
          table: entry.name,
          reason: extras.partitionKeys
            ? `unique key (${key.columns.map(escapeText).join(', ')}): on a partitioned table a unique key must hold every partition-key column`
            : `unique key (${key.columns.map(escapeText).join(', ')}): the partition key was not read (readPlanExtras), so it is not generated`,
        });
        continue;
      }
      const suffix = key.where !== undefined ? 'partial_key' : 'key';
      push({
        kind: 'unique',
        table: entry.name,
        columns: key.columns,
        singleton: key.singleton,
        name: relNames.allocate([entry.name, ...key.columns], suffix),
        ...(key.where !== undefined ? { where: key.where } : {}),
        ...withParts((p) => relNames.allocate([p.name, ...key.columns], suffix)),
      });
    }
  }
  for (const step of polymorphicSteps(live, usable, skipped, extras)) push(step);
  for (const step of viewSteps(live, extras.views ?? [])) push(step);

  if (manifest.tenant.compositeKeys) {
    const parents = new Map<string, string>();
    const fkSteps: PlanStep[] = [];
    // Partitioned tables (plan-partitions.ts): a partitioned child's FKs take the per-partition route; a
    // partitioned parent gets UNIQUE (tenant, key) only when that holds its partition key.
    const partitioned = new Map<string, PartitionTarget[]>();
    for (const n of usable) {
      const rel = findRelation(catalog, manifest.schema, n)!;
      const parts = rel.kind === 'partitioned-table' ? partitionsOf(live, rel) : undefined;
      if (parts) partitioned.set(n, parts);
    }
    const refused = new Map<string, string>();
    for (const name of usable) {
      const table = findRelation(catalog, manifest.schema, name)!;
      for (const fk of scopedForeignKeys(live, table)) {
        if (!usable.includes(fk.parent)) continue;
        const parent = findRelation(catalog, manifest.schema, fk.parent)!;
        if (!hasParentKey(live, parent, fk.parentKey)) {
          const why = partitioned.has(fk.parent) ? parentKeyRefusal(live, fk.parent, fk.parentKey, extras) : undefined;
          if (why) {
            if (!refused.has(fk.parent)) skipped.push({ table: fk.parent, reason: why });
            refused.set(fk.parent, why);
            continue;
          }
          parents.set(fk.parent, fk.parentKey);
        }
        const existing = compositeForeignKey(live, table, fk.column, fk.parent, fk.parentKey);
        const parts = partitioned.get(name);
        fkSteps.push({
          kind: 'composite-fk',
          ...(parts ? { partitions: parts } : {}),
          table: name,
          column: fk.column,
          parent: fk.parent,
          parentKey: fk.parentKey,
          name: existing?.name ?? conNames(table, name).allocate([name, c, fk.column], 'fkey'),
          old: fk.constraint,
          exists: existing ? (existing.validated ? 'valid' : 'not-valid') : 'no',
        });
      }
      // A composite FK already validated whose old single-column FK is gone: nothing left to do.
    }
    for (const [parent, key] of parents) {
      const indexName = relNames.allocate([parent, c, key], 'key');
      const parts = partitioned.get(parent);
      const partitions = parts?.map((p) => ({ ...p, index: relNames.allocate([p.name, c, key], 'key') }));
      push({ kind: 'parent-key', table: parent, key, indexName, constraintName: indexName, ...(partitions ? { partitions } : {}) });
    }
    for (const step of fkSteps) push(step);
    for (const step of sharedRefSteps(live, usable, extras)) push(step);
  }
  return { steps, skipped };
}
