// "Did you mean …?" for a table name the database lacks, read straight from pg_class (for the commands
// that do not read the whole catalog: status, policies diff). The manifest checks use the catalog's
// own list (config/live-context.ts tableSuggestion); both pick with the same didYouMean.
import type { Queryable } from './connection.js';
import { didYouMean } from '../did-you-mean.js';

/**
 * " (did you mean deals?)" when a table of `schema` (ordinary or partitioned, not a partition) is close
 * to `name`, or "".
 *
 * @example await liveTableSuggestion(client, 'public', 'dealz') // => ' (did you mean deals?)'
 */
export async function liveTableSuggestion(client: Queryable, schema: string, name: string): Promise<string> {
  const { rows } = await client.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition`,
    [schema],
  );
  return didYouMean(
    name,
    rows.map((r) => r.name),
  );
}
