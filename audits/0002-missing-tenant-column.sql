-- id: missing-tenant-column
-- title: Scoped table without the tenant column
-- severity: error
-- kind: catalog
-- remediation: Run `crm-tenancy generate` and `crm-tenancy migrate` (expand phase adds the column online), then `crm-tenancy backfill`.
--
-- A scoped table that does not carry the tenant column cannot be isolated by row-level security.
SELECT c.relname::text AS table_name, NULL::text AS object, NULL::bigint AS count, NULL::text[] AS samples,
       format('%s.%s has no %s column', n.nspname, c.relname, :'tenant_column') AS message, NULL::text AS severity
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = :'schema' AND c.relname = ANY (:'scoped_tables'::text[]) AND c.relkind IN ('r', 'p')
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                    WHERE a.attrelid = c.oid AND a.attname = :'tenant_column' AND a.attnum > 0 AND NOT a.attisdropped)
 ORDER BY 1;
