-- id: missing-tenant-fk
-- title: No foreign key from the tenant column to the tenant table
-- severity: error
-- kind: catalog
-- remediation: Run `crm-tenancy generate` and `crm-tenancy migrate`: the expand phase adds the FK NOT VALID (no scan), the validate phase validates it.
--
-- Without the foreign key, a row can name a tenant that does not exist (a typo, a deleted company):
-- nobody sees it, and a future tenant with that id inherits it.
SELECT c.relname::text AS table_name, NULL::text AS object, NULL::bigint AS count, NULL::text[] AS samples,
       format('%s.%s.%s has no foreign key to %s.%s(%s)', n.nspname, c.relname, :'tenant_column',
              :'schema', :'tenant_table', :'tenant_key') AS message, NULL::text AS severity
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attname = :'tenant_column' AND a.attnum > 0 AND NOT a.attisdropped
 WHERE n.nspname = :'schema' AND c.relname = ANY (:'scoped_tables'::text[]) AND c.relkind IN ('r', 'p')
   AND NOT EXISTS (
     SELECT 1
       FROM pg_catalog.pg_constraint con
       JOIN pg_catalog.pg_class r ON r.oid = con.confrelid
       JOIN pg_catalog.pg_namespace rn ON rn.oid = r.relnamespace
       JOIN pg_catalog.pg_attribute ra ON ra.attrelid = r.oid AND ra.attnum = con.confkey[1]
      WHERE con.conrelid = c.oid AND con.contype = 'f' AND con.conkey = ARRAY[a.attnum]
        AND rn.nspname = :'schema' AND r.relname = :'tenant_table' AND ra.attname = :'tenant_key')
 ORDER BY 1;
