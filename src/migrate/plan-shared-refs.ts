// Plans the guard of foreign keys into shared_rows tables (with composite_keys): a composite
// (tenant, id) key cannot also allow a shared row's NULL tenant, so such a key stays single-column and
// a constraint trigger adds the rule "the referenced row is shared or of the row's own tenant".
import type { LiveContext } from '../config/live-context.js';
import { findRelation, foreignKeys } from '../db/catalog.js';
import { fitIdentifier, plainParts } from './object-names.js';
import type { PlanExtras } from './plan-polymorphic.js';
import { sharedRefFunctionBody, sharedRefParentFunctionBody } from './render-shared-refs.js';

export interface SharedRefStep {
  kind: 'shared-ref';
  table: string;
  column: string;
  parent: string;
  parentKey: string;
  /** The single-column foreign key it guards. */
  constraint: string;
  functionName: string;
  triggerName: string;
  /** The parent-side guard (on `parent`): a change of a referenced row's tenant or key. */
  parentFunctionName: string;
  parentTriggerName: string;
}

/**
 * The trigger and function names of a guarded column (the child's, and the parent's, named after the
 * child's column too: one pair per foreign key): stable, so a rerun replaces what an earlier run made.
 */
export function sharedRefNames(
  table: string,
  column: string,
): { functionName: string; triggerName: string; parentFunctionName: string; parentTriggerName: string } {
  return {
    functionName: fitIdentifier(plainParts([table, column], 'shared_ref_check')),
    triggerName: fitIdentifier(plainParts([table, column], 'shared_ref_trigger')),
    parentFunctionName: fitIdentifier(plainParts([table, column], 'shared_ref_parent_check')),
    parentTriggerName: fitIdentifier(plainParts([table, column], 'shared_ref_parent_trigger')),
  };
}

/** The trigger is there and calls a function of this body (as migrate writes it: the body between newlines). */
function installed(extras: PlanExtras, key: string, body: string): boolean {
  if (!extras.triggers?.has(key)) return false;
  const source = extras.triggerSources?.get(key);
  return source === undefined || source === `\n${body}\n`;
}

/**
 * A step per single-column foreign key from a usable scoped table into a usable `shared_rows` table
 * whose trigger is not there yet (with `composite_keys: true`; without it no foreign key is made
 * tenant-safe and verify reports them all alike). Planned again while either trigger is missing or
 * calls a function whose body is not the one migrate writes now (a database migrated before the
 * parent-side trigger existed, or before its body changed, gets it from a new generate + migrate: the
 * step replaces both functions and adds only the missing triggers).
 */
export function sharedRefSteps(live: LiveContext, usable: readonly string[], extras: PlanExtras): SharedRefStep[] {
  const { manifest, catalog } = live;
  if (!manifest.tenant.compositeKeys) return [];
  const shared = new Set(manifest.tables.filter((t) => t.sharedRows && usable.includes(t.name)).map((t) => t.name));
  const out: SharedRefStep[] = [];
  for (const name of usable) {
    const table = findRelation(catalog, manifest.schema, name)!;
    for (const fk of foreignKeys(table)) {
      const ref = fk.references!;
      if (fk.columns.length !== 1 || ref.columns.length !== 1 || fk.columns[0] === manifest.tenant.column) continue;
      if (ref.schema !== manifest.schema || !shared.has(ref.table)) continue;
      const names = sharedRefNames(name, fk.columns[0]);
      const step: SharedRefStep = { kind: 'shared-ref', table: name, column: fk.columns[0], parent: ref.table, parentKey: ref.columns[0], constraint: fk.name, ...names };
      if (installed(extras, `${name}\u0000${names.triggerName}`, sharedRefFunctionBody(manifest, step)) && installed(extras, `${ref.table}\u0000${names.parentTriggerName}`, sharedRefParentFunctionBody(manifest, step))) continue;
      out.push(step);
    }
  }
  return out;
}
