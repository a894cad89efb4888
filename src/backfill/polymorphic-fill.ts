// Backfill through polymorphic pairs: each target of a pair becomes one source of the tenant, like a foreign key.
import type { CatalogColumn, CatalogTable } from '../db/catalog.js';
import { findColumn, findRelation } from '../db/catalog.js';
import { ident } from '../db/quote.js';
import type { LiveContext } from '../config/live-context.js';
import type { ScopedTable } from '../config/manifest.js';
import { TenancyError } from '../errors.js';
import { targetMatch, typeIs } from '../audit/polymorphic-references.js';
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
 * or a single-column key.
 */
export function polymorphicSources(live: LiveContext, entry: ScopedTable, table: CatalogTable): BackfillSource[] {
  const { manifest, catalog } = live;
  const { schema, tenant } = manifest;
  const sources: BackfillSource[] = [];
  for (const ref of entry.polymorphic) {
    const id = findColumn(table, ref.idColumn);
    if (!id || !findColumn(table, ref.typeColumn)) {
      throw new TenancyError('manifest-live', `tables.${entry.name}.polymorphic: ${schema}.${entry.name} has no column ${id ? ref.typeColumn : ref.idColumn}`);
    }
    for (const target of ref.targets) {
      const parent = findRelation(catalog, schema, target.table);
      const isTenantTable = target.table === tenant.table;
      const keyName = isTenantTable ? tenant.key : parent?.primaryKey?.length === 1 ? parent.primaryKey[0] : undefined;
      const key = parent && keyName ? findColumn(parent, keyName) : undefined;
      if (!parent || !key) {
        throw new TenancyError(
          'manifest-live',
          `tables.${entry.name}.polymorphic: target ${target.table} (type '${target.type}') has no single-column primary key to match ${ref.idColumn} against`,
        );
      }
      const parentTenantColumn = isTenantTable ? tenant.key : tenant.column;
      const parentTenant = findColumn(parent, parentTenantColumn);
      if (!parentTenant) {
        throw new TenancyError(
          'manifest-live',
          `${schema}.${target.table} has no tenant column ${tenant.column}; ${entry.name}.${ref.idColumn} derives its tenant from it (type '${target.type}')`,
          { hint: 'add the tenant column first with the expand migration: `crm-tenancy migrate up`' },
        );
      }
      sources.push({
        column: ref.idColumn,
        constraint: `${ref.typeColumn}/${ref.idColumn} '${target.type}'`,
        parentTable: target.table,
        parentColumn: key.name,
        parentTenantColumn,
        parentTenantType: parentTenant.type,
        parentIsTenantTable: isTenantTable,
        selfReference: target.table === entry.name,
        polymorphic: { typeColumn: ref.typeColumn, type: target.type, key, id },
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
