// Plans the enforcement of the manifest's polymorphic pairs: one constraint trigger per pair whose
// target (chosen by the type value) must belong to the row's own tenant.
import type { LiveContext } from '../config/live-context.js';
import { findColumn, findRelation } from '../db/catalog.js';
import { displayName, escapeText } from '../db/quote.js';
import { fitIdentifier, plainParts } from './object-names.js';
import type { SkippedTable } from './plan.js';
import type { ExposedView } from './plan-views.js';

/** What the catalog snapshot does not hold and the plan needs (read by readPlanExtras). */
export interface PlanExtras {
  /** Triggers present on scoped tables, as `table\u0000trigger`. Without it, pair triggers are always planned (idempotent). */
  triggers?: ReadonlySet<string>;
  /** The source (pg_proc.prosrc) of each such trigger's function, by the same key. Without it, a trigger's function is taken as current. */
  triggerSources?: ReadonlyMap<string, string>;
  /** Views over scoped tables that app roles can read (readExposedViews). Without it, no view is fixed. */
  views?: readonly ExposedView[];
  /** Partition-key columns of partitioned scoped tables (null: an expression). Without it, no unique key is planned on them. */
  partitionKeys?: ReadonlyMap<string, string[] | null>;
}

export interface PolymorphicTarget {
  type: string;
  table: string;
  /** The target's single-column primary key and its type (format_type). */
  key: string;
  keyType: string;
  /** The target keeps shared rows (NULL tenant): referencing one is allowed. */
  sharedRows: boolean;
}

export interface PolymorphicStep {
  kind: 'polymorphic';
  table: string;
  typeColumn: string;
  idColumn: string;
  idType: string;
  targets: PolymorphicTarget[];
  functionName: string;
  triggerName: string;
}

/** The trigger and function names of a pair: stable, so a rerun replaces what an earlier run made. */
export function polymorphicNames(table: string, typeColumn: string, idColumn: string): { functionName: string; triggerName: string } {
  const parts = [table, typeColumn, idColumn];
  return { functionName: fitIdentifier(plainParts(parts, 'tenant_check')), triggerName: fitIdentifier(plainParts(parts, 'tenant_trigger')) };
}

/**
 * A step per polymorphic pair of a usable scoped table whose trigger is not there yet. A pair whose
 * columns or targets cannot be checked (a missing column, a target that is not scoped or has no
 * single-column primary key) is reported as skipped with the reason.
 */
export function polymorphicSteps(live: LiveContext, usable: readonly string[], skipped: SkippedTable[], extras: PlanExtras): PolymorphicStep[] {
  const { manifest, catalog } = live;
  const out: PolymorphicStep[] = [];
  for (const entry of manifest.tables) {
    if (!usable.includes(entry.name)) continue;
    const table = findRelation(catalog, manifest.schema, entry.name)!;
    for (const pair of entry.polymorphic) {
      const where = `${displayName(manifest.schema, entry.name)} (${escapeText(pair.typeColumn)}, ${escapeText(pair.idColumn)})`;
      const idCol = findColumn(table, pair.idColumn);
      if (!findColumn(table, pair.typeColumn) || !idCol) {
        skipped.push({ table: entry.name, reason: `polymorphic pair ${where}: a column does not exist` });
        continue;
      }
      const targets: PolymorphicTarget[] = [];
      for (const target of pair.targets) {
        const rel = findRelation(catalog, manifest.schema, target.table);
        const scoped = manifest.tables.find((t) => t.name === target.table);
        const key = rel?.primaryKey?.length === 1 ? findColumn(rel, rel.primaryKey[0]) : undefined;
        if (!rel || !scoped || !usable.includes(target.table) || !key) {
          skipped.push({
            table: entry.name,
            reason: `polymorphic pair ${where}: target ${escapeText(target.table)} is not a scoped table with a single-column primary key`,
          });
          targets.length = 0;
          break;
        }
        targets.push({ type: target.type, table: target.table, key: key.name, keyType: key.type, sharedRows: scoped.sharedRows });
      }
      if (targets.length === 0) continue;
      const names = polymorphicNames(entry.name, pair.typeColumn, pair.idColumn);
      if (extras.triggers?.has(`${entry.name}\u0000${names.triggerName}`)) continue;
      out.push({ kind: 'polymorphic', table: entry.name, typeColumn: pair.typeColumn, idColumn: pair.idColumn, idType: idCol.type, targets, ...names });
    }
  }
  return out;
}
