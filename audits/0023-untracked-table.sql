-- id: untracked-table
-- title: A table the manifest does not mention
-- severity: warning
-- kind: catalog
-- remediation: Add it under `tables:` (tenant-scoped) or under `exempt:` with the reason it has no tenant; `crm-tenancy init --stdout` shows how it would classify it.
--
-- Every new table is either tenant data or deliberately shared. A table that is neither listed
-- as scoped nor exempt was added without that decision. The toolkit's own bookkeeping schema is
-- never reported; partitions are covered by their parent.
SELECT c.relname::text AS table_name, NULL::text AS object, NULL::bigint AS count, NULL::text[] AS samples,
       format('%s.%s is neither scoped nor exempt in the manifest', n.nspname, c.relname) AS message, NULL::text AS severity
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = :'schema' AND n.nspname <> :'state_schema' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
   AND c.relname <> ALL (:'scoped_tables'::text[]) AND c.relname <> ALL (:'exempt_tables'::text[])
   AND c.relname <> :'tenant_table'
 ORDER BY 1;
