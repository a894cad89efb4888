-- id: no-policy
-- title: Row-level security enabled without any permissive policy
-- severity: error
-- kind: catalog
-- remediation: Run `crm-tenancy generate` and `crm-tenancy policies apply` (one tenant policy for the application roles).
--
-- With row-level security on and no policy, every role subject to it sees nothing and can write
-- nothing: the application breaks (and someone will "fix" it by disabling RLS). Restrictive
-- policies only narrow what permissive ones admit, so a table with restrictive policies alone
-- denies everything too.
SELECT c.relname::text AS table_name, NULL::text AS object, NULL::bigint AS count, NULL::text[] AS samples,
       CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_policy p WHERE p.polrelid = c.oid)
            THEN format('%s.%s has row-level security enabled and only restrictive policies: the application sees no rows', n.nspname, c.relname)
            ELSE format('%s.%s has row-level security enabled but no policy: the application sees no rows', n.nspname, c.relname) END AS message,
       NULL::text AS severity
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = :'schema' AND (c.relname = ANY (:'scoped_tables'::text[]) OR c.relname = :'tenant_table')
   AND c.relkind IN ('r', 'p') AND c.relrowsecurity
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_policy p WHERE p.polrelid = c.oid AND p.polpermissive)
 ORDER BY 1;
