// What a database says about Citus: is the extension there (a coordinator), and which tables it already distributes.
import type { Queryable } from '../db/connection.js';

export interface CitusState {
  /** The citus extension's version, or null on plain PostgreSQL. */
  version: string | null;
  /** Citus tables of the schema, by name: `distributed` (hash), `reference`, or `local` (a Citus local table). */
  tables: Map<string, 'distributed' | 'reference' | 'local'>;
}

/**
 * Reads the extension and pg_dist_partition (only when the extension exists: on plain PostgreSQL
 * the catalog table is not there).
 *
 * @example await readCitusState(client, 'public') // => { version: '13.2-1', tables: Map { 'deals' => 'distributed', … } }
 */
export async function readCitusState(db: Queryable, schema: string): Promise<CitusState> {
  const ext = await db.query<{ v: string }>(`SELECT extversion AS v FROM pg_catalog.pg_extension WHERE extname = 'citus'`);
  const version = ext.rows[0]?.v ?? null;
  const tables = new Map<string, 'distributed' | 'reference' | 'local'>();
  if (version === null) return { version, tables };
  const r = await db.query<{ name: string; method: string; repmodel: string }>(
    `SELECT c.relname::text AS name, p.partmethod::text AS method, p.repmodel::text AS repmodel
       FROM pg_dist_partition p
       JOIN pg_catalog.pg_class c ON c.oid = p.logicalrelid
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1
      ORDER BY 1`,
    [schema],
  );
  // partmethod 'h': hash-distributed; 'n' with repmodel 't' (two-phase): a reference table; other 'n': a Citus local table.
  for (const row of r.rows) tables.set(row.name, row.method === 'h' ? 'distributed' : row.method === 'n' && row.repmodel === 't' ? 'reference' : 'local');
  return { version, tables };
}
