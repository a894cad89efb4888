// Re-points the rows that reference a removed duplicate to the kept row (recorded for undo), or counts them for a dry run.
import type pg from 'pg';
import type { CatalogTable } from '../db/catalog.js';
import { ident, qualified } from '../db/quote.js';
import { keyJson, keyMatchesJson, type KeyColumn, type RowKey } from '../db/table-keys.js';
import type { IncomingForeignKey } from './incoming-keys.js';

export interface RepointCount {
  table: string;
  constraint: string;
  columns: string[];
  rows: number;
}

/** The referenced columns' values of a row, as text (what referencing rows hold). */
async function refValues(db: pg.ClientBase, rel: CatalogTable, key: KeyColumn[], rowKey: RowKey, columns: string[]): Promise<string[] | undefined> {
  const { rows } = await db.query(
    `SELECT ${columns.map((col, i) => `t.${ident(col)}::text AS v${i}`).join(', ')}
       FROM ${qualified(rel.schema, rel.name)} t WHERE ${keyMatchesJson('t', key, '$1::jsonb')}`,
    [JSON.stringify(rowKey)],
  );
  return rows[0] ? columns.map((_, i) => rows[0][`v${i}`]) : undefined;
}

function referencesMatch(fk: IncomingForeignKey, first: number): string {
  return fk.columns.map((c, i) => `r.${ident(c.name)} = $${first + i}::${c.type}`).join(' AND ');
}

/** How many rows of each referencing table point at the rows to remove (what a run would re-point). */
export async function countReferences(
  db: pg.ClientBase,
  rel: CatalogTable,
  key: KeyColumn[],
  incoming: IncomingForeignKey[],
  removed: RowKey[],
): Promise<RepointCount[]> {
  const counts: RepointCount[] = [];
  for (const fk of incoming) {
    let rows = 0;
    for (const r of removed) {
      const old = await refValues(db, rel, key, r, fk.refColumns);
      if (!old || old.some((v) => v === null)) continue;
      const res = await db.query<{ n: string }>(`SELECT count(*) AS n FROM ${qualified(fk.schema, fk.table)} r WHERE ${referencesMatch(fk, 1)}`, old);
      rows += Number(res.rows[0].n);
    }
    if (rows > 0) counts.push({ table: fk.table, constraint: fk.constraint, columns: fk.columns.map((c) => c.name), rows });
  }
  return counts;
}

/**
 * Inside the group's transaction: points every row referencing a removed row at the kept row, and
 * records each moved row (its key, old and new values) in `dedupe_repoints` for undo. A re-point that
 * breaks a constraint of the referencing table raises, and the caller refuses the group.
 */
export async function repointReferences(
  tx: pg.ClientBase,
  stateSchema: string,
  runId: string,
  rel: CatalogTable,
  key: KeyColumn[],
  incoming: IncomingForeignKey[],
  kept: RowKey,
  removed: RowKey[],
): Promise<RepointCount[]> {
  const counts: RepointCount[] = [];
  for (const fk of incoming) {
    const newValues = await refValues(tx, rel, key, kept, fk.refColumns);
    let rows = 0;
    for (const r of removed) {
      const oldValues = await refValues(tx, rel, key, r, fk.refColumns);
      if (!oldValues || !newValues || oldValues.some((v) => v === null)) continue;
      const n = fk.columns.length;
      const res = await tx.query(
        `WITH moved AS (
           UPDATE ${qualified(fk.schema, fk.table)} r
              SET ${fk.columns.map((c, i) => `${ident(c.name)} = $${1 + n + i}::${c.type}`).join(', ')}
            WHERE ${referencesMatch(fk, 1)}
           RETURNING ${keyJson('r', fk.primaryKey!)} AS key)
         INSERT INTO ${qualified(stateSchema, 'dedupe_repoints')}
                (run_id, table_schema, table_name, constraint_name, columns, key, old_values, new_values)
         SELECT $${1 + 2 * n}, $${2 + 2 * n}, $${3 + 2 * n}, $${4 + 2 * n}, $${5 + 2 * n}::text[], key, $${6 + 2 * n}::jsonb, $${7 + 2 * n}::jsonb
           FROM moved`,
        [
          ...oldValues,
          ...newValues,
          runId,
          fk.schema,
          fk.table,
          fk.constraint,
          fk.columns.map((c) => c.name),
          JSON.stringify(oldValues),
          JSON.stringify(newValues),
        ],
      );
      rows += res.rowCount ?? 0;
    }
    if (rows > 0) counts.push({ table: fk.table, constraint: fk.constraint, columns: fk.columns.map((c) => c.name), rows });
  }
  return counts;
}
