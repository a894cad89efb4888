// Partitioned scoped tables: their partitions, and whether PostgreSQL lets a unique key on the parent
// (it must hold the partition key), composite (tenant, key) keys included. The steps themselves are the
// usual ones, with the partitions attached (render-partitions.ts).
import type { LiveContext } from '../config/live-context.js';
import type { CatalogTable } from '../db/catalog.js';
import { escapeText } from '../db/quote.js';
import type { PlanExtras } from './plan-polymorphic.js';

/** A leaf partition a step works on one by one, and (for index steps) the name of its own index. */
export interface PartitionTarget {
  schema: string;
  name: string;
  index?: string;
}

/** The direct partitions of `table`, ordered by name; null when one of them is partitioned itself (not handled). */
export function partitionsOf(live: LiveContext, table: CatalogTable): PartitionTarget[] | null {
  const out: PartitionTarget[] = [];
  for (const rel of live.catalog.relations.values()) {
    if (rel.partitionOf?.schema !== table.schema || rel.partitionOf.name !== table.name) continue;
    if (rel.kind === 'partitioned-table') return null;
    out.push({ schema: rel.schema, name: rel.name });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Whether a unique key on these columns is allowed on the partitioned table (it holds every partition-key column). */
export function partitionKeyAllows(partitionKey: readonly string[] | null | undefined, columns: readonly string[]): boolean {
  return Array.isArray(partitionKey) && partitionKey.every((c) => columns.includes(c));
}

/**
 * Why a partitioned parent cannot get the UNIQUE (tenant, key) that composite foreign keys to it need
 * (undefined: it can). PostgreSQL checks a unique key on a partitioned table per partition, so it must
 * hold every partition-key column; PostgreSQL already demands that of the single-column key the
 * children reference today, so (tenant, key) holds it too unless the key was read wrong or not at all.
 */
export function parentKeyRefusal(live: LiveContext, parent: string, key: string, extras: PlanExtras): string | undefined {
  const c = live.manifest.tenant.column;
  const cols = `(${escapeText(c)}, ${escapeText(key)})`;
  if (!extras.partitionKeys) {
    return `composite keys: the partition key of partitioned ${escapeText(parent)} was not read (readPlanExtras), so UNIQUE ${cols} is not generated; foreign keys to it stay single-column`;
  }
  const pk = extras.partitionKeys.get(parent);
  if (partitionKeyAllows(pk, [c, key])) return undefined;
  const by = Array.isArray(pk) ? `(${pk.map(escapeText).join(', ')})` : 'an expression';
  return (
    `composite keys: partitioned ${escapeText(parent)} cannot get UNIQUE ${cols}: PostgreSQL enforces a unique key on a partitioned ` +
    `table per partition, so it must hold every partition-key column, and ${escapeText(parent)} is partitioned by ${by}. Foreign keys ` +
    `to it stay single-column (a row can reference another tenant's ${escapeText(parent)} row by its key). What you can do: repartition ` +
    `it by the tenant column or by ${escapeText(key)} (generate then makes the key), or guard each reference with a constraint ` +
    `trigger (the row's tenant = the parent's), as generate does for polymorphic pairs`
  );
}
