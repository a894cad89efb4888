-- id: unscoped-unique
-- title: UNIQUE constraint or index that omits the tenant column
-- severity: warning
-- kind: catalog
-- remediation: Replace it with a per-tenant key: list the columns under `unique:` for the table in the manifest (generate builds (tenant, columns) CONCURRENTLY), then drop the global one. Keep it, with a waiver, only if global uniqueness is intended.
--
-- UNIQUE checks ignore row-level security: a global unique key tells tenant A that tenant B already
-- uses a value (an email, an invoice number) and stops A from using it. The surrogate primary key
-- (a single column) is not reported, nor a key that contains every column of a foreign key to a
-- scoped table or the tenant table (`UNIQUE (invoice_id, position)` with invoice_id → invoices): the
-- parent row belongs to one tenant, so the key is scoped through it already. A composite
-- (tenant, invoice_id) foreign key counts the same: the tenant column itself need not be in the key.
SELECT c.relname::text AS table_name, ic.relname::text AS object, NULL::bigint AS count, NULL::text[] AS samples,
       format('unique %s %s on %s.%s (%s) omits %s: uniqueness is global across tenants',
              CASE WHEN con.oid IS NOT NULL THEN 'constraint' ELSE 'index' END, ic.relname, n.nspname, c.relname,
              pg_catalog.pg_get_indexdef(i.indexrelid, 0, true), :'tenant_column') AS message,
       NULL::text AS severity
  FROM pg_catalog.pg_index i
  JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
  JOIN pg_catalog.pg_class c ON c.oid = i.indrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_catalog.pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = c.oid
  LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attname = :'tenant_column' AND NOT a.attisdropped
 WHERE n.nspname = :'schema' AND c.relname = ANY (:'scoped_tables'::text[]) AND c.relkind IN ('r', 'p')
   AND i.indisunique
   AND NOT (i.indisprimary AND i.indnkeyatts = 1)
   AND (a.attnum IS NULL OR NOT a.attnum = ANY ((i.indkey::int2[])[0:i.indnkeyatts - 1]))
   AND NOT EXISTS (
     SELECT 1 FROM pg_catalog.pg_constraint fk
       JOIN pg_catalog.pg_class p ON p.oid = fk.confrelid
       JOIN pg_catalog.pg_namespace pn ON pn.oid = p.relnamespace
      WHERE fk.conrelid = c.oid AND fk.contype = 'f' AND pn.nspname = :'schema'
        AND (p.relname = ANY (:'scoped_tables'::text[]) OR p.relname = :'tenant_table')
        AND cardinality(array_remove(fk.conkey, a.attnum)) > 0
        AND array_remove(fk.conkey, a.attnum) <@ ((i.indkey::int2[])[0:i.indnkeyatts - 1]))
 ORDER BY 1, 2;
