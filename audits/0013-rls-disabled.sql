-- id: rls-disabled
-- title: Row-level security is not enabled
-- severity: error
-- kind: catalog
-- remediation: Run `crm-tenancy generate` (writes policies/<table>.sql) and `crm-tenancy policies apply`.
--
-- Without row-level security, tenant isolation rests on every query of the application remembering
-- its WHERE clause. Checked for every scoped table and for the tenant table itself.
SELECT c.relname::text AS table_name, NULL::text AS object, NULL::bigint AS count, NULL::text[] AS samples,
       format('%s.%s does not have row-level security enabled', n.nspname, c.relname) AS message, NULL::text AS severity
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = :'schema' AND (c.relname = ANY (:'scoped_tables'::text[]) OR c.relname = :'tenant_table')
   AND c.relkind IN ('r', 'p') AND NOT c.relrowsecurity
 ORDER BY 1;
