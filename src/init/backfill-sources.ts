// Backfill sources a draft proposes: foreign keys (composite ones included) ranked by hops to the tenant.
import { findColumn, foreignKeys, type CatalogTable } from '../db/catalog.js';

/** One candidate source of a table's tenant: an FK column and the hops from it to the tenant table. */
export interface RankedSource {
  column: string;
  parent: string;
  /** Foreign-key hops from this table to the tenant table through this column (1 = straight there). */
  hops: number;
  /** The FK column is NOT NULL: every row has a parent to read. */
  notNull: boolean;
  /** Through a composite FK that carries the tenant column, e.g. (membership_id, organization_id). */
  composite: boolean;
}

/** Most sources a draft lists per table: beyond this they add conflicts more than coverage. */
export const MAX_SOURCES = 4;

/** The FK columns of `t` that backfill can read a tenant through (single-column or (tenant, x) FKs). */
function candidateEdges(t: CatalogTable, tenantColumn: string, schema: string): { column: string; parent: string; composite: boolean }[] {
  const out: { column: string; parent: string; composite: boolean }[] = [];
  for (const fk of foreignKeys(t)) {
    const ref = fk.references!;
    if (ref.schema !== schema) continue;
    if (fk.columns.length === 1 && fk.columns[0] !== tenantColumn) out.push({ column: fk.columns[0], parent: ref.table, composite: false });
    if (fk.columns.length === 2 && fk.columns.includes(tenantColumn)) {
      const column = fk.columns.find((c) => c !== tenantColumn)!;
      out.push({ column, parent: ref.table, composite: true });
    }
  }
  return out;
}

/**
 * FK hops from every table to the tenant table: 0 for the tenant table, 1 for a table carrying the
 * tenant column (its own value, once filled), else 1 + the best parent reachable through a candidate FK.
 */
export function hopsToTenant(tables: CatalogTable[], tenant: CatalogTable, tenantColumn: string, schema: string): Map<string, number> {
  const hops = new Map<string, number>([[tenant.name, 0]]);
  for (const t of tables) if (t !== tenant && findColumn(t, tenantColumn)) hops.set(t.name, 1);
  let changed = true;
  while (changed) {
    changed = false;
    for (const t of tables) {
      if (t === tenant || findColumn(t, tenantColumn)) continue;
      let best = hops.get(t.name) ?? Infinity;
      for (const e of candidateEdges(t, tenantColumn, schema)) {
        const h = e.parent === t.name ? undefined : hops.get(e.parent);
        if (h !== undefined && h + 1 < best) best = h + 1;
      }
      if (best < (hops.get(t.name) ?? Infinity)) {
        hops.set(t.name, best);
        changed = true;
      }
    }
  }
  return hops;
}

/**
 * The sources to list for `t`, best first: fewest hops, then NOT NULL columns, then name; at most
 * MAX_SOURCES, and none more than one hop longer than the best. Self-references come last (they fill
 * a row from its already-filled parent row, in later passes).
 */
export function rankSources(
  t: CatalogTable,
  scoped: ReadonlySet<string>,
  tenantTable: string,
  tenantColumn: string,
  schema: string,
  hops: ReadonlyMap<string, number>,
): RankedSource[] {
  const seen = new Set<string>();
  const ranked: RankedSource[] = [];
  for (const e of candidateEdges(t, tenantColumn, schema)) {
    if (seen.has(e.column) || (e.parent !== tenantTable && !scoped.has(e.parent))) continue;
    const parentHops = e.parent === t.name ? undefined : hops.get(e.parent);
    if (e.parent !== t.name && parentHops === undefined) continue;
    seen.add(e.column);
    ranked.push({
      column: e.column,
      parent: e.parent,
      hops: parentHops === undefined ? Infinity : parentHops + 1,
      notNull: Boolean(findColumn(t, e.column)?.notNull),
      composite: e.composite,
    });
  }
  ranked.sort((a, b) => a.hops - b.hops || Number(b.notNull) - Number(a.notNull) || a.column.localeCompare(b.column));
  const best = ranked.find((r) => Number.isFinite(r.hops))?.hops ?? Infinity;
  const finite = ranked.filter((r) => Number.isFinite(r.hops) && r.hops <= best + 1).slice(0, MAX_SOURCES);
  const selfRefs = ranked.filter((r) => !Number.isFinite(r.hops)).slice(0, 1);
  return finite.length > 0 ? [...finite, ...selfRefs].slice(0, MAX_SOURCES) : [];
}
