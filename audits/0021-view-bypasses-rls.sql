-- id: view-bypasses-rls
-- title: A view or materialized view that shows every tenant
-- severity: error
-- kind: catalog
-- remediation: `ALTER VIEW … SET (security_invoker = true)` (PostgreSQL 15+), or make its owner a role subject to row-level security with FORCE on the tables; revoke the application's access to materialized views over tenant tables (they store every tenant's rows and have no row-level security).
--
-- A view runs with its owner's rights unless security_invoker is set: if the owner bypasses
-- row-level security (superuser, BYPASSRLS, or the tables' owner without FORCE), the view shows
-- every tenant to whoever may read it. A materialized view ignores row-level security entirely.
-- Views over such views count too (a security_invoker view over a definer view still leaks).
-- Reported when an application role can read it: one finding per view, under the first scoped
-- table it reads (the message names them all).
WITH RECURSIVE scoped AS (
  SELECT c.oid, c.relname, c.relowner, c.relforcerowsecurity
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname = :'schema' AND (c.relname = ANY (:'scoped_tables'::text[]) OR c.relname = :'tenant_table')
     AND c.relkind IN ('r', 'p')
), refs AS (
  -- (view, relation it reads) for every view and materialized view
  SELECT DISTINCT v.oid AS view_oid, d.refobjid AS ref_oid
    FROM pg_catalog.pg_depend d
    JOIN pg_catalog.pg_rewrite rw ON rw.oid = d.objid
    JOIN pg_catalog.pg_class v ON v.oid = rw.ev_class
   WHERE d.classid = 'pg_catalog.pg_rewrite'::regclass AND d.refclassid = 'pg_catalog.pg_class'::regclass
     AND v.relkind IN ('v', 'm') AND d.refobjid <> v.oid
), chain AS (
  -- Views over a scoped table, directly or through other views; `leaks` when one view on the way
  -- runs as an owner who bypasses row-level security, or is materialized.
  SELECT r.view_oid, s.oid AS table_oid, s.relname AS table_name, s.relowner AS table_owner, s.relforcerowsecurity, 1 AS depth,
         false AS leaks_below
    FROM refs r JOIN scoped s ON s.oid = r.ref_oid
  UNION ALL
  SELECT r.view_oid, c.table_oid, c.table_name, c.table_owner, c.relforcerowsecurity, c.depth + 1,
         c.leaks_below OR v.relkind = 'm' OR (
           coalesce((SELECT lower(option_value) FROM pg_catalog.pg_options_to_table(v.reloptions) WHERE option_name = 'security_invoker'), 'false')
             NOT IN ('true', 'on', '1', 'yes')
           AND (o.rolsuper OR o.rolbypassrls OR (pg_catalog.pg_has_role(v.relowner, c.table_owner, 'USAGE') AND NOT c.relforcerowsecurity)))
    FROM chain c
    JOIN pg_catalog.pg_class v ON v.oid = c.view_oid
    JOIN pg_catalog.pg_roles o ON o.oid = v.relowner
    JOIN refs r ON r.ref_oid = c.view_oid
   WHERE c.depth < 20
), views AS (
  SELECT DISTINCT ON (v.oid, ch.table_name) v.oid, vn.nspname AS view_schema, v.relname AS view_name, v.relkind, v.relowner,
         ch.table_name, ch.leaks_below,
         (v.relkind = 'm' OR (
            coalesce((SELECT lower(option_value) FROM pg_catalog.pg_options_to_table(v.reloptions) WHERE option_name = 'security_invoker'), 'false')
              NOT IN ('true', 'on', '1', 'yes')
            AND (o.rolsuper OR o.rolbypassrls OR (pg_catalog.pg_has_role(v.relowner, ch.table_owner, 'USAGE') AND NOT ch.relforcerowsecurity)))) AS self_leaks
    FROM chain ch
    JOIN pg_catalog.pg_class v ON v.oid = ch.view_oid
    JOIN pg_catalog.pg_namespace vn ON vn.oid = v.relnamespace
    JOIN pg_catalog.pg_roles o ON o.oid = v.relowner
   WHERE vn.nspname <> :'state_schema'
   ORDER BY v.oid, ch.table_name, ch.leaks_below DESC
)
SELECT min(v.table_name::text) AS table_name, format('%s.%s', v.view_schema, v.view_name) AS object, NULL::bigint AS count,
       array_agg(format('%s.%s', :'schema', v.table_name) ORDER BY v.table_name) AS samples,
       format('%s %s.%s over %s is readable by %s and %s', CASE v.relkind WHEN 'm' THEN 'materialized view' ELSE 'view' END,
              v.view_schema, v.view_name, string_agg(format('%s.%s', :'schema', v.table_name), ', ' ORDER BY v.table_name), readers.roles,
              CASE WHEN v.relkind = 'm' THEN 'stores every tenant''s rows (materialized views have no row-level security)'
                   WHEN bool_or(v.self_leaks) THEN format('runs as its owner %s, who bypasses row-level security', pg_catalog.pg_get_userbyid(v.relowner))
                   ELSE 'reads them through a view or materialized view that bypasses row-level security' END) AS message,
       NULL::text AS severity
  FROM views v
  CROSS JOIN LATERAL (SELECT string_agg(r.rolname, ', ' ORDER BY r.rolname) AS roles FROM pg_catalog.pg_roles r
                       WHERE r.rolname = ANY (:'app_roles'::text[]) AND pg_catalog.has_table_privilege(r.oid, v.oid, 'SELECT')) readers
 WHERE readers.roles IS NOT NULL AND (v.self_leaks OR v.leaks_below)
 GROUP BY v.oid, v.view_schema, v.view_name, v.relkind, v.relowner, readers.roles
 ORDER BY 1, 2;
