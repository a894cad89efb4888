// Every foreign key in the database that points at a table (pg_catalog), with the referencing table's primary key.
import type { Queryable } from '../db/connection.js';
import type { KeyColumn } from '../db/table-keys.js';

export interface IncomingForeignKey {
  constraint: string;
  schema: string;
  table: string;
  /** Referencing columns and their types, in FK order. */
  columns: KeyColumn[];
  /** The referenced columns of the target table, in the same order. */
  refColumns: string[];
  /** Primary key of the referencing table; null when it has none (re-points cannot be recorded). */
  primaryKey: KeyColumn[] | null;
  /** A valid, non-partial index leads with the referencing columns (else every delete of a referenced row scans the table). */
  indexed: boolean;
}

const INCOMING_SQL = `
SELECT con.conname AS constraint_name, n.nspname AS schema, c.relname AS table_name,
       ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(attnum, ord)
               JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum ORDER BY k.ord) AS columns,
       ARRAY(SELECT pg_catalog.format_type(a.atttypid, a.atttypmod) FROM unnest(con.conkey) WITH ORDINALITY k(attnum, ord)
               JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum ORDER BY k.ord) AS types,
       ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(attnum, ord)
               JOIN pg_catalog.pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum ORDER BY k.ord) AS ref_columns,
       (SELECT ARRAY(SELECT a.attname::text FROM unnest(pk.conkey) WITH ORDINALITY k(attnum, ord)
                       JOIN pg_catalog.pg_attribute a ON a.attrelid = pk.conrelid AND a.attnum = k.attnum ORDER BY k.ord)
          FROM pg_catalog.pg_constraint pk WHERE pk.conrelid = con.conrelid AND pk.contype = 'p') AS pk_columns,
       (SELECT ARRAY(SELECT pg_catalog.format_type(a.atttypid, a.atttypmod) FROM unnest(pk.conkey) WITH ORDINALITY k(attnum, ord)
                       JOIN pg_catalog.pg_attribute a ON a.attrelid = pk.conrelid AND a.attnum = k.attnum ORDER BY k.ord)
          FROM pg_catalog.pg_constraint pk WHERE pk.conrelid = con.conrelid AND pk.contype = 'p') AS pk_types,
       EXISTS (SELECT 1 FROM pg_catalog.pg_index i
                WHERE i.indrelid = con.conrelid AND i.indisvalid AND i.indpred IS NULL
                  AND cardinality(con.conkey) <= i.indnkeyatts
                  AND (i.indkey::int2[])[0:cardinality(con.conkey) - 1] @> con.conkey
                  AND (i.indkey::int2[])[0:cardinality(con.conkey) - 1] <@ con.conkey) AS indexed
  FROM pg_catalog.pg_constraint con
  JOIN pg_catalog.pg_class c ON c.oid = con.conrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE con.contype = 'f' AND con.conparentid = 0
   AND con.confrelid = (SELECT t.oid FROM pg_catalog.pg_class t JOIN pg_catalog.pg_namespace tn ON tn.oid = t.relnamespace
                         WHERE tn.nspname = $1 AND t.relname = $2)
 ORDER BY n.nspname, c.relname, con.conname`;

/**
 * Foreign keys of any schema that reference `schema.table` (constraints cloned onto partitions are
 * left out: updating through the partitioned parent covers them).
 */
export async function incomingForeignKeys(db: Queryable, schema: string, table: string): Promise<IncomingForeignKey[]> {
  const { rows } = await db.query(INCOMING_SQL, [schema, table]);
  return rows.map((r) => ({
    constraint: r.constraint_name,
    schema: r.schema,
    table: r.table_name,
    columns: (r.columns as string[]).map((name, i) => ({ name, type: r.types[i] as string })),
    refColumns: r.ref_columns,
    primaryKey: r.pk_columns ? (r.pk_columns as string[]).map((name, i) => ({ name, type: r.pk_types[i] as string })) : null,
    indexed: r.indexed,
  }));
}
