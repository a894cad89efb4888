// The distinct values of a polymorphic type column, capped: a loose index scan (one index probe per
// distinct value) when a valid btree index leads with the column, else one read of the column.
//
// Measured on PostgreSQL 15 (this machine, shared, 2 cores), 2 M rows / 270 MB, 4 type values and
// NULLs: the GROUP BY read took 0.51–0.84 s without an index and 0.35 s with one (an index-only scan
// of every entry still); the loose scan below took 0.7 ms (5 index probes). The read grows with the
// table (≈ 30 s at 120 M rows on this hardware, linear), the loose scan with the number of values.
import type { Queryable } from '../db/connection.js';
import type { CatalogColumn, CatalogTable } from '../db/catalog.js';
import { ident, qualified, regclassText } from '../db/quote.js';

/**
 * A valid, non-partial btree index whose leading column is `column`, with the default operator class
 * and the column's (deterministic) collation: what `min(col)` and `col > v` can walk.
 */
export async function looseScanIndex(db: Queryable, t: CatalogTable, column: CatalogColumn): Promise<string | undefined> {
  // citext compares case-insensitively: a walk would merge `Invoice` and `invoice`, which today's
  // read (grouped by the text value) keeps apart.
  if (/^citext/.test(column.type)) return undefined;
  const r = await db.query<{ name: string }>(
    `SELECT ic.relname AS name
       FROM pg_catalog.pg_index i
       JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
       JOIN pg_catalog.pg_am am ON am.oid = ic.relam
       JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
       JOIN pg_catalog.pg_opclass opc ON opc.oid = i.indclass[0]
       LEFT JOIN pg_catalog.pg_collation co ON co.oid = a.attcollation
      WHERE i.indrelid = $1::regclass AND a.attname = $2 AND am.amname = 'btree'
        AND i.indisvalid AND i.indisready AND i.indpred IS NULL
        AND opc.opcdefault AND i.indcollation[0] = a.attcollation AND coalesce(co.collisdeterministic, true)
      ORDER BY ic.relname
      LIMIT 1`,
    [regclassText(t.schema, t.name), column.name],
  );
  return r.rows[0]?.name;
}

/**
 * The SQL of the distinct non-NULL values of `column` (column `v`, the column's type), the first
 * `cap` in the column's order: both forms return the same rows. With `index`, a recursive CTE that
 * asks the index for the next larger value; without, a GROUP BY of the whole column.
 */
export function distinctValuesSql(t: CatalogTable, column: CatalogColumn, cap: number, index: string | undefined): string {
  const from = qualified(t.schema, t.name);
  const col = ident(column.name);
  if (index) {
    return `WITH RECURSIVE w(v, k) AS (
        SELECT (SELECT min(${col}) FROM ${from}), 1
        UNION ALL
        SELECT (SELECT min(x.${col}) FROM ${from} x WHERE x.${col} > w.v), w.k + 1 FROM w WHERE w.v IS NOT NULL AND w.k < ${cap}
      ) SELECT v FROM w WHERE v IS NOT NULL`;
  }
  // citext: grouped by the text value, as before the loose scan existed.
  const key = /^citext/.test(column.type) ? `${col}::text` : col;
  return `SELECT ${key} AS v FROM ${from} WHERE ${col} IS NOT NULL GROUP BY 1 ORDER BY 1 LIMIT ${cap}`;
}
