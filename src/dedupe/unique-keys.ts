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

/** An entry of `unique:` in the manifest: the list form today; the object form is the planned extension. */
type ManifestUniqueKey = readonly string[] | { columns: readonly string[]; where?: string; same?: readonly string[] };

/**
 * The unique keys of a scoped table ([] for an unknown table): `unique: [[code]]` →
 * `[{ columns: ['code'] }]`; an object entry `{columns, where, same}` is taken as it is.
 *
 * @example uniqueKeysOf(manifest, 'invoices') // → [{ columns: ['number'] }]
 */
export function uniqueKeysOf(manifest: Manifest, table: string): DedupeKey[] {
  const entry = manifest.tables.find((t) => t.name === table);
  return (entry?.unique ?? []).map((key: ManifestUniqueKey) => toDedupeKey(key));
}

function toDedupeKey(key: ManifestUniqueKey): DedupeKey {
  if (!('columns' in key)) return { columns: [...key] };
  const out: DedupeKey = { columns: [...key.columns] };
  if (key.where !== undefined) out.where = key.where;
  if (key.same !== undefined) out.same = [...key.same];
  return out;
}
