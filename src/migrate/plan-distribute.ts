// The distribute phase (distribution: citus): which tables become reference or distributed tables, in
// which order, and which primary keys must first take the tenant column.
import type { CitusState } from '../citus/citus-state.js';
import { citusTables, distributionColumn } from '../citus/citus-tables.js';
import type { LiveContext } from '../config/live-context.js';
import { type CatalogTable, findRelation, foreignKeys, isTableLike } from '../db/catalog.js';
import { displayName } from '../db/quote.js';
import { NameAllocator } from './object-names.js';

export type DistributeStep =
  /**
   * A primary key without the distribution column, swapped for (column, key…) from a unique index built concurrently.
   * `unique`: a UNIQUE constraint on exactly `newColumns` (the composite phase's, existing or planned), made
   * redundant by the new key: the distribute transaction drops it (when no kept foreign key needs it), down restores it.
   */
  | { kind: 'citus-primary-key'; table: string; name: string; columns: string[]; newName: string; newColumns: string[]; unique?: string }
  | { kind: 'citus-reference'; table: string }
  /** `colocateWith`: the first distributed table (absent on that one). */
  | { kind: 'citus-distribute'; table: string; column: string; colocateWith?: string };

export function distributeStepId(step: DistributeStep): string {
  switch (step.kind) {
    case 'citus-primary-key':
      return `citus-primary-key:${step.table}`;
    case 'citus-reference':
      return `citus-reference:${step.table}`;
    case 'citus-distribute':
      return `citus-distribute:${step.table}`;
  }
}

/**
 * Tables in foreign-key order: a table after every table of `names` it references (parents first);
 * a cycle is broken in manifest order (the distribute phase drops and re-adds those keys anyway).
 */
export function foreignKeyOrder(live: LiveContext, names: string[]): string[] {
  const { schema } = live.manifest;
  const set = new Set(names);
  const parents = new Map<string, string[]>();
  for (const name of names) {
    const table = findRelation(live.catalog, schema, name);
    const refs = table ? foreignKeys(table).filter((fk) => fk.references?.schema === schema && set.has(fk.references.table) && fk.references.table !== name) : [];
    parents.set(name, [...new Set(refs.map((fk) => fk.references!.table))]);
  }
  const out: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string) => {
    if (state.get(name)) return; // done, or on the current path: a cycle, broken here
    state.set(name, 'visiting');
    for (const parent of parents.get(name) ?? []) visit(parent);
    state.set(name, 'done');
    out.push(name);
  };
  for (const name of names) visit(name);
  return out;
}

export interface DistributePlan {
  steps: DistributeStep[];
  skipped: { table: string; reason: string }[];
}

/** A UNIQUE constraint a table will have when the distribute phase runs: the composite phase's planned `parent-key`. */
export interface PlannedUnique {
  table: string;
  constraintName: string;
  columns: string[];
}

/**
 * The distribute phase's steps: reference tables first, then the distributed ones in foreign-key
 * order (the tenant table first unless it is a reference table), each co-located with the first;
 * tables Citus already holds in the wanted form are left out.
 *
 * @example planDistribute(live, await readCitusState(db, 'public')).steps
 * // => [{ kind: 'citus-reference', table: 'roles' }, { kind: 'citus-distribute', table: 'companies', column: 'id' },
 * //     { kind: 'citus-distribute', table: 'users', column: 'company_id', colocateWith: 'companies' }, …]
 */
export function planDistribute(
  live: LiveContext,
  citus: CitusState,
  alreadyPending: ReadonlySet<string> = new Set(),
  plannedUnique: readonly PlannedUnique[] = [],
): DistributePlan {
  const { manifest, catalog } = live;
  const { schema } = manifest;
  const wanted = citusTables(manifest);
  const skipped: DistributePlan['skipped'] = [];
  const shared = new Set(manifest.tables.filter((t) => t.sharedRows).map((t) => t.name));
  const usable = (name: string): boolean => {
    const table = findRelation(catalog, schema, name);
    if (!table) {
      skipped.push({ table: name, reason: `distribute: table ${displayName(schema, name)} does not exist` });
      return false;
    }
    if (!isTableLike(table) || table.partitionOf) {
      skipped.push({ table: name, reason: `distribute: ${displayName(schema, name)} is not a table Citus can distribute (a partition, view or foreign table)` });
      return false;
    }
    if (shared.has(name)) {
      skipped.push({ table: name, reason: 'distribute: a shared_rows table keeps NULL tenants, which Citus refuses in a distribution column (see citus-shared-rows-table)' });
      return false;
    }
    return true;
  };
  const names = new NameAllocator(
    [...catalog.relations.values()].filter((r) => r.schema === schema).flatMap((r) => [r.name, ...r.indexes.map((i) => i.name)]),
  );
  const steps: DistributeStep[] = [];
  const push = (step: DistributeStep) => {
    if (!alreadyPending.has(distributeStepId(step))) steps.push(step);
  };
  for (const name of foreignKeyOrder(live, wanted.reference.filter(usable))) {
    const now = citus.tables.get(name);
    if (now === 'reference') continue;
    if (now === 'distributed') {
      skipped.push({ table: name, reason: 'distribute: already a distributed table; undistribute_table() it by hand to make it a reference table' });
      continue;
    }
    push({ kind: 'citus-reference', table: name });
  }
  const distributed = foreignKeyOrder(live, wanted.distributed.filter(usable));
  // The tenant table first: every scoped table references it.
  const ordered = distributed.includes(manifest.tenant.table) ? [manifest.tenant.table, ...distributed.filter((n) => n !== manifest.tenant.table)] : distributed;
  const first = ordered[0];
  for (const name of ordered) {
    const column = distributionColumn(manifest, name);
    const now = citus.tables.get(name);
    if (now === 'distributed') continue;
    if (now === 'reference') {
      skipped.push({ table: name, reason: 'distribute: already a reference table; undistribute_table() it by hand to distribute it' });
      continue;
    }
    const table = findRelation(catalog, schema, name)!;
    const pk = table.constraints.find((c) => c.type === 'primary-key');
    if (pk && !pk.columns.includes(column)) {
      const newColumns = [column, ...pk.columns];
      const unique = redundantUnique(table, name, newColumns, plannedUnique);
      push({
        kind: 'citus-primary-key',
        table: name,
        name: pk.name,
        columns: pk.columns,
        newName: names.allocate([name, ...newColumns], 'pkey'),
        newColumns,
        ...(unique ? { unique } : {}),
      });
    }
    push({ kind: 'citus-distribute', table: name, column, ...(name === first ? {} : { colocateWith: first }) });
  }
  // Single-column foreign keys between the tables to distribute (composite keys off): Citus refuses them.
  if (!manifest.tenant.compositeKeys) {
    const set = new Set(ordered);
    const loose = ordered.filter((name) =>
      foreignKeys(findRelation(catalog, schema, name)!).some(
        (fk) => fk.references?.schema === schema && set.has(fk.references.table) && !fk.columns.includes(distributionColumn(manifest, name)),
      ),
    );
    for (const name of loose) {
      skipped.push({
        table: name,
        reason: 'distribute: a foreign key to another scoped table without the tenant column, which Citus refuses: set tenant.composite_keys: true (see citus-fk-without-tenant)',
      });
    }
  }
  return { steps, skipped };
}

const sameList = (a: readonly (string | null)[], b: readonly (string | null)[]) => a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * The UNIQUE constraint on exactly `columns` (same order) that the new primary key makes redundant: one in
 * the catalog (not deferrable, its index valid and not partial), else one the composite phase plans. The
 * migration checks it again at run time before dropping it.
 */
function redundantUnique(table: CatalogTable, name: string, columns: string[], planned: readonly PlannedUnique[]): string | undefined {
  const live = table.constraints.find(
    (c) =>
      c.type === 'unique' &&
      !c.deferrable &&
      sameList(c.columns, columns) &&
      table.indexes.some((i) => i.constraint === c.name && i.valid && i.unique && i.predicate === null && sameList(i.columns, columns)),
  );
  if (live) return live.name;
  return planned.find((p) => p.table === name && sameList(p.columns, columns))?.constraintName;
}
