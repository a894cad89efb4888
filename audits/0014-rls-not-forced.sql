-- id: rls-not-forced
-- title: Row-level security is enabled but not forced
-- severity: warning
-- kind: catalog
-- remediation: `ALTER TABLE … FORCE ROW LEVEL SECURITY` (the generated policy files do it); and never let the application role own its tables.
--
-- The table's owner skips row-level security unless FORCE is set — and so do views and SECURITY
-- DEFINER functions it owns. An error when an application role owns the table (or inherits the
-- owner's rights): then the application is not confined at all.
SELECT c.relname::text AS table_name, pg_catalog.pg_get_userbyid(c.relowner)::text AS object, NULL::bigint AS count,
       NULL::text[] AS samples,
       format('%s.%s has row-level security but not FORCE: its owner %s%s bypasses it', n.nspname, c.relname,
              pg_catalog.pg_get_userbyid(c.relowner),
              CASE WHEN app.roles IS NOT NULL THEN format(' (application role %s)', app.roles) ELSE '' END) AS message,
       CASE WHEN app.roles IS NOT NULL THEN 'error' END AS severity
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN LATERAL (SELECT string_agg(r.rolname, ', ' ORDER BY r.rolname) AS roles FROM pg_catalog.pg_roles r
                      WHERE r.rolname = ANY (:'app_roles'::text[]) AND pg_catalog.pg_has_role(r.oid, c.relowner, 'USAGE')) app ON true
 WHERE n.nspname = :'schema' AND (c.relname = ANY (:'scoped_tables'::text[]) OR c.relname = :'tenant_table')
   AND c.relkind IN ('r', 'p') AND c.relrowsecurity AND NOT c.relforcerowsecurity
 ORDER BY 1;
