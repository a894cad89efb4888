// What the Citus write probes read as the owner before they run: the distribution column, a tenant with no rows, a column to set to NULL.
import type pg from 'pg';
import { ident, qualified, regclassText } from '../db/quote.js';
import { columnTypes, fixedValue, sampleValue } from './probe-rows.js';
import type { TableInfo } from './verify-types.js';

/**
 * The column a hash-distributed table is distributed by; null for a reference table, a Citus local
 * table or a table Citus does not know (those take any UPDATE of the tenant column).
 *
 * @example await citusDistributionColumn(tx, info) // => 'company_id'
 */
export async function citusDistributionColumn(tx: pg.ClientBase, info: TableInfo): Promise<string | null> {
  const { rows } = await tx.query<{ column: string }>(
    `SELECT column_to_column_name(p.logicalrelid, p.partkey) AS column FROM pg_dist_partition p WHERE p.logicalrelid = $1::regclass AND p.partmethod = 'h'`,
    [regclassText(info.rel.schema, info.name)],
  );
  return rows[0]?.column ?? null;
}

/**
 * A value of the compared column's type that no row of the table holds (a fixed one, else made up;
 * each looked up as the owner; three tries), or undefined when the type takes no made-up value. With it set, correct
 * UPDATE and DELETE policies admit no row of the table.
 *
 * @example await unusedTenant(tx, info) // => '2147483647'
 */
export async function unusedTenant(tx: pg.ClientBase, info: TableInfo): Promise<string | undefined> {
  const type = (await columnTypes(tx, info.rel)).get(info.column);
  if (!type) return undefined;
  const fixed = fixedValue(type);
  for (let attempt = 1; attempt <= 3; attempt++) {
    // A fixed value first, so that two runs' reports read alike; made-up ones if a row holds it.
    const value = attempt === 1 && fixed !== undefined ? fixed : sampleValue(type);
    if (typeof value !== 'string' && typeof value !== 'number') return undefined;
    const { rows } = await tx.query<{ taken: boolean }>(
      `SELECT EXISTS (SELECT FROM ${qualified(info.rel.schema, info.name)} WHERE ${ident(info.column)} = $1::${info.type}) AS taken`,
      [String(value)],
    );
    if (!rows[0].taken) return String(value);
  }
  return undefined;
}

/**
 * A column `UPDATE t SET <column> = NULL` may name without reading any column and without failing
 * before a row is reached: one the role may update, not in `skip`, neither generated nor identity
 * (they take only DEFAULT, and Citus deparses `SET <generated> = DEFAULT` into a syntax error), nor of
 * a domain type (the domain's NOT NULL or CHECK fails on the constant when the statement is planned).
 * Nullable columns first, then by position; undefined when there is none.
 *
 * @example await nullableTarget(tx, info, 'crm_app', ['company_id']) // => 'contact_id'
 */
export async function nullableTarget(tx: pg.ClientBase, info: TableInfo, role: string, skip: string[]): Promise<string | undefined> {
  const { rows } = await tx.query<{ name: string }>(
    `SELECT a.attname::text AS name
       FROM pg_catalog.pg_attribute a
       JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
      WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped
        AND a.attgenerated = '' AND a.attidentity = '' AND t.typtype <> 'd'
        AND NOT (a.attname::text = ANY ($3::text[]))
        AND pg_catalog.has_column_privilege($2, a.attrelid, a.attnum, 'UPDATE')
      ORDER BY a.attnotnull, a.attnum
      LIMIT 1`,
    [regclassText(info.rel.schema, info.name), role, skip],
  );
  return rows[0]?.name;
}
