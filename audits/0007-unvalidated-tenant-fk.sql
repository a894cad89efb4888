-- id: unvalidated-tenant-fk
-- title: The tenant foreign key is NOT VALID
-- severity: warning
-- kind: catalog
-- remediation: Run `crm-tenancy migrate` (validate phase: `ALTER TABLE … VALIDATE CONSTRAINT`, which takes only SHARE UPDATE EXCLUSIVE).
--
-- A NOT VALID foreign key checks new rows only; rows written before it was added may still name
-- tenants that do not exist.
SELECT c.relname::text AS table_name, con.conname::text AS object, NULL::bigint AS count, NULL::text[] AS samples,
       format('foreign key %s on %s.%s(%s) is NOT VALID: existing rows were never checked',
              con.conname, n.nspname, c.relname, :'tenant_column') AS message, NULL::text AS severity
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attname = :'tenant_column' AND a.attnum > 0 AND NOT a.attisdropped
  JOIN pg_catalog.pg_constraint con ON con.conrelid = c.oid AND con.contype = 'f' AND con.conkey = ARRAY[a.attnum]
  JOIN pg_catalog.pg_class r ON r.oid = con.confrelid
  JOIN pg_catalog.pg_namespace rn ON rn.oid = r.relnamespace
  JOIN pg_catalog.pg_attribute ra ON ra.attrelid = r.oid AND ra.attnum = con.confkey[1]
 WHERE n.nspname = :'schema' AND c.relname = ANY (:'scoped_tables'::text[]) AND c.relkind IN ('r', 'p')
   AND rn.nspname = :'schema' AND r.relname = :'tenant_table' AND ra.attname = :'tenant_key'
   AND NOT con.convalidated
 ORDER BY 1, 2;
