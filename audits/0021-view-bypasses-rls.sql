-- id: view-bypasses-rls
-- title: A view or materialized view that shows every tenant
-- severity: error
-- kind: catalog
-- remediation: `ALTER VIEW … SET (security_invoker = true)` (PostgreSQL 15+), or make its owner a role subject to row-level security with FORCE on the tables; revoke the application's access to materialized views over tenant tables (they store every tenant's rows and have no row-level security).
--
-- A view runs with its owner's rights unless security_invoker is set: if the owner bypasses
-- row-level security (superuser, BYPASSRLS, or the tables' owner without FORCE), the view shows
-- every tenant to whoever may read it. A materialized view ignores row-level security entirely.
-- Reported when an application role can read it.
WITH scoped AS (
  SELECT c.oid, c.relname, c.relowner, c.relforcerowsecurity
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname = :'schema' AND (c.relname = ANY (:'scoped_tables'::text[]) OR c.relname = :'tenant_table')
     AND c.relkind IN ('r', 'p')
), views AS (
  SELECT DISTINCT v.oid, vn.nspname AS view_schema, v.relname AS view_name, v.relkind, v.relowner, v.reloptions,
         s.relname AS table_name, s.relowner AS table_owner, s.relforcerowsecurity
    FROM pg_catalog.pg_depend d
    JOIN pg_catalog.pg_rewrite rw ON rw.oid = d.objid
    JOIN pg_catalog.pg_class v ON v.oid = rw.ev_class
    JOIN pg_catalog.pg_namespace vn ON vn.oid = v.relnamespace
    JOIN scoped s ON s.oid = d.refobjid
   WHERE d.classid = 'pg_catalog.pg_rewrite'::regclass AND d.refclassid = 'pg_catalog.pg_class'::regclass
     AND v.relkind IN ('v', 'm') AND v.oid <> s.oid
     AND vn.nspname <> :'state_schema'
)
SELECT v.table_name, format('%s.%s', v.view_schema, v.view_name) AS object, NULL::bigint AS count, NULL::text[] AS samples,
       format('%s %s.%s over %s.%s is readable by %s and %s', CASE v.relkind WHEN 'm' THEN 'materialized view' ELSE 'view' END,
              v.view_schema, v.view_name, :'schema', v.table_name, readers.roles,
              CASE WHEN v.relkind = 'm' THEN 'stores every tenant''s rows (materialized views have no row-level security)'
                   ELSE format('runs as its owner %s, who bypasses row-level security', pg_catalog.pg_get_userbyid(v.relowner)) END) AS message,
       NULL::text AS severity
  FROM views v
  JOIN pg_catalog.pg_roles o ON o.oid = v.relowner
  CROSS JOIN LATERAL (SELECT string_agg(r.rolname, ', ' ORDER BY r.rolname) AS roles FROM pg_catalog.pg_roles r
                       WHERE r.rolname = ANY (:'app_roles'::text[]) AND pg_catalog.has_table_privilege(r.oid, v.oid, 'SELECT')) readers
 WHERE readers.roles IS NOT NULL
   AND (v.relkind = 'm'
        OR (coalesce((SELECT lower(option_value) FROM pg_catalog.pg_options_to_table(v.reloptions) WHERE option_name = 'security_invoker'), 'false')
              NOT IN ('true', 'on', '1', 'yes')
            AND (o.rolsuper OR o.rolbypassrls OR (pg_catalog.pg_has_role(v.relowner, v.table_owner, 'USAGE') AND NOT v.relforcerowsecurity))))
 ORDER BY 1, 2;
