// The manifest's per-tenant unique keys in the form dedupe works with: the one place that reads `unique:`.
import type { Manifest } from '../config/manifest.js';

/**
 * A per-tenant unique key as dedupe understands it (the tenant column is implied).
 *
 * - `columns`: the key's columns.
 * - `where`: the predicate of a partial key, e.g. `deleted_at IS NULL`. A partial unique key only
 *   constrains the rows its WHERE selects, so only those rows (the live ones) form duplicate groups;
 *   the others (soft-deleted) are neither grouped, kept nor removed. **Trusted SQL**: the DBA's own
 *   text from the manifest, embedded as it is in parentheses — `… AND (<where>)` — in queries whose
 *   only relation is the key's table (alias `t`). It is neither quoted nor parameterised; it is
 *   checked once, before anything is written, as a single boolean expression over the table.
 * - `same`: further columns whose values must be equal for rows to be the same entity (foreign-key
 *   columns always must be): a group whose rows differ in one of them is reported, never merged.
 */
export interface DedupeKey {
  columns: string[];
  where?: string;
  same?: string[];
}

/**
 * The unique keys of a scoped table ([] for an unknown table), as dedupe works with them.
 *
 * @example uniqueKeysOf(manifest, 'invoices') // → [{ columns: ['number'], where: 'deleted_at IS NULL' }]
 */
export function uniqueKeysOf(manifest: Manifest, table: string): DedupeKey[] {
  const entry = manifest.tables.find((t) => t.name === table);
  return (entry?.unique ?? []).map((key) => ({
    columns: [...key.columns],
    ...(key.where !== undefined ? { where: key.where } : {}),
    ...(key.same.length > 0 ? { same: [...key.same] } : {}),
  }));
}
