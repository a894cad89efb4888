// Partitioned scoped tables: their partitions, and whether PostgreSQL lets a unique key on the parent
// (it must hold the partition key). The steps themselves are the usual ones, with the partitions attached.
import type { LiveContext } from '../config/live-context.js';
import type { CatalogTable } from '../db/catalog.js';

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
