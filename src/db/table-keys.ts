// SQL fragments for a table's primary key: keyset ranges, jsonb keys for bookkeeping, matching a stored key.
import { ident, literal } from '../db/quote.js';
import type { CatalogTable } from '../db/catalog.js';
import { TenancyError } from '../errors.js';

/** One primary-key column and its type (format_type output, used for casts of text parameters). */
export interface KeyColumn {
  name: string;
  type: string;
}

/** The primary-key columns of a table; a table without one cannot be walked (exit 2). */
export function primaryKeyColumns(table: CatalogTable, why: string): KeyColumn[] {
  if (!table.primaryKey || table.primaryKey.length === 0) {
    throw new TenancyError('manifest-live', `${table.schema}.${table.name} has no primary key; ${why} needs one`, {
      hint: 'add a primary key (every row must be addressable to be changed, recorded and undone)',
    });
  }
  return table.primaryKey.map((name) => {
    const column = table.columns.find((c) => c.name === name)!;
    return { name, type: column.type };
  });
}

/** Type of a column, for casts. format_type() output comes from the server and is already quoted. */
export function columnType(table: CatalogTable, name: string): string {
  const column = table.columns.find((c) => c.name === name);
  if (!column) throw new TenancyError('manifest-live', `column ${name} does not exist in ${table.schema}.${table.name}`);
  return column.type;
}

/** `(t."a", t."b")` */
export function keyTuple(alias: string, key: readonly KeyColumn[]): string {
  return `(${key.map((k) => `${alias}.${ident(k.name)}`).join(', ')})`;
}

/** `($3::integer, $4::text)`: text parameters cast to the key's types, numbered from `first`. */
export function keyParams(key: readonly KeyColumn[], first: number): string {
  return `(${key.map((k, i) => `$${first + i}::${k.type}`).join(', ')})`;
}

/** `t."a"::text AS k0, …`: a key read back as text, lossless for every type. */
export function keyAsText(alias: string, key: readonly KeyColumn[]): string {
  return key.map((k, i) => `${alias}.${ident(k.name)}::text AS k${i}`).join(', ');
}

/** `jsonb_build_object('a', t."a", …)`: the key as stored in the bookkeeping tables. */
export function keyJson(alias: string, key: readonly KeyColumn[]): string {
  return `jsonb_build_object(${key.map((k) => `${literal(k.name)}, ${alias}.${ident(k.name)}`).join(', ')})`;
}

/** `t."a" = (j ->> 'a')::integer AND …`: matches a row against a stored jsonb key. */
export function keyMatchesJson(alias: string, key: readonly KeyColumn[], json: string): string {
  return key.map((k) => `${alias}.${ident(k.name)} = (${json} ->> ${literal(k.name)})::${k.type}`).join(' AND ');
}

/** `ORDER BY t."a", t."b"` body. */
export function keyOrder(alias: string, key: readonly KeyColumn[], direction = ''): string {
  return key.map((k) => `${alias}.${ident(k.name)}${direction ? ` ${direction}` : ''}`).join(', ');
}

/** A jsonb key object (as node-postgres returns it) for display. */
export type RowKey = Record<string, unknown>;
