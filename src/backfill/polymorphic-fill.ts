// Backfill through polymorphic pairs: each target of a pair becomes one source of the tenant, like a foreign key.
import type { CatalogColumn } from '../db/catalog.js';
import { ident } from '../db/quote.js';
import type { LiveContext } from '../config/live-context.js';
import type { ScopedTable } from '../config/manifest.js';
import { TenancyError } from '../errors.js';
import { resolvePairs, targetMatch, typeIs } from '../audit/polymorphic-references.js';
import type { BackfillSource } from './backfill-plan.js';

/** What a polymorphic source adds to a foreign-key source: the type value that selects its target. */
export interface PolymorphicSourceInfo {
  typeColumn: string;
  type: string;
  /** The target's key and the pair's id column, for the join (src/audit/polymorphic-references.ts targetMatch). */
  key: CatalogColumn;
  id: CatalogColumn;
}

/**
 * One source per target of every pair of the table, in manifest order, after its `backfill` FKs.
 * A row's type selects at most one of a pair's targets, so its targets never disagree; a row whose
 * type names no target (or whose target row is missing) is offered no tenant by the pair: an
 * orphan, reported as such. Throws `manifest-live` (exit 2) when a target lacks its tenant column
 * or a single-column key (resolvePairs says which).
 */
export function polymorphicSources(live: LiveContext, entry: ScopedTable): BackfillSource[] {
  const { manifest, catalog } = live;
  const sources: BackfillSource[] = [];
  for (const pair of resolvePairs(manifest, catalog).filter((p) => p.table === entry.name)) {
    const { ref } = pair;
    const unresolved = pair.unresolved[0];
    if (unresolved) {
      throw new TenancyError(
        'manifest-live',
        `tables.${entry.name}.polymorphic: target ${manifest.schema}.${unresolved.table} (type '${unresolved.type}'): ${unresolved.reason}; ${entry.name}.${ref.idColumn} cannot derive its tenant from it`,
        unresolved.reason.endsWith('column yet')
          ? { hint: 'add the tenant column first with the expand migration: `crm-tenancy migrate up`' }
          : {},
      );
    }
    for (const target of pair.targets) {
      sources.push({
        column: ref.idColumn,
        constraint: `${ref.typeColumn}/${ref.idColumn} '${target.type}'`,
        parentTable: target.table,
        parentColumn: target.key.name,
        parentTenantColumn: target.tenant.name,
        parentTenantType: target.tenant.type,
        parentIsTenantTable: target.isTenantTable,
        selfReference: target.table === entry.name,
        polymorphic: { typeColumn: ref.typeColumn, type: target.type, key: target.key, id: pair.idColumn },
      });
    }
  }
  return sources;
}

/**
 * The join of a source's parent (alias `p`) to the row (alias `t`): the FK's column pair, or for a
 * polymorphic source the type test and the key match (the cast on the row's side, so each batch
 * row is one probe of the target's key index; see targetMatch).
 */
export function sourceJoin(s: BackfillSource, p: string): string {
  if (!s.polymorphic) return `${p}.${ident(s.parentColumn)} = t.${ident(s.column)}`;
  return `${typeIs(s.polymorphic.typeColumn, s.polymorphic.type)} AND ${targetMatch(s.polymorphic.key, s.polymorphic.id, p, 't')}`;
}
