// "Did you mean …?" for a table name the database lacks, read straight from pg_class (for the commands
// that do not read the whole catalog: status, policies diff). The manifest checks use the catalog's
// own list (config/live-context.ts tableSuggestion); both pick with the same didYouMean.
import type { Queryable } from './connection.js';
import { didYouMean } from '../did-you-mean.js';

/**
 * The schema's tables (ordinary or partitioned, not partitions), read once, as a function giving
 * " (did you mean deals?)" when one is close to a name, or "".
 *
 * @example (await liveTableSuggester(client, 'public'))('dealz') // => ' (did you mean deals?)'
 */
export async function liveTableSuggester(client: Queryable, schema: string): Promise<(name: string) => string> {
  const { rows } = await client.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition`,
    [schema],
  );
  const names = rows.map((r) => r.name);
  return (name) => didYouMean(name, names);
}
