-- id: security-definer-function
-- title: A SECURITY DEFINER function over a scoped table that the application can call
-- severity: warning
-- kind: catalog
-- remediation: Make it SECURITY INVOKER if it need not bypass row-level security; otherwise keep it narrow, pin `SET search_path = pg_catalog, pg_temp`, schema-qualify every reference, REVOKE EXECUTE FROM PUBLIC, and list it under `definer_functions` with a reason.
--
-- A SECURITY DEFINER function runs with its owner's rights: when the owner bypasses row-level
-- security it can return any tenant's rows to its caller. An error when its search_path is not
-- pinned (a caller can shadow the tables or operators it uses). Functions listed under
-- `definer_functions` in the manifest with a pinned search_path are reported as info. A function
-- "touches" a table when its body names it or it depends on it.
WITH scoped AS (
  SELECT c.oid, c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname = :'schema' AND (c.relname = ANY (:'scoped_tables'::text[]) OR c.relname = :'tenant_table')
     AND c.relkind IN ('r', 'p')
), definers AS MATERIALIZED (
  -- Few rows: filtering them first keeps the estimated cost low (no JIT compilation for a 1 ms query).
  SELECT f.oid, f.pronamespace, f.proname, f.proconfig, f.prosrc
    FROM pg_catalog.pg_proc f
   WHERE f.prosecdef
), funcs AS (
  SELECT f.oid, fn.nspname, f.proname, f.proconfig,
         EXISTS (SELECT 1 FROM unnest(f.proconfig) cfg WHERE cfg LIKE 'search_path=%') AS pinned,
         ARRAY(SELECT s.relname::text FROM scoped s
                WHERE lower(s.relname) IN (SELECT w FROM regexp_split_to_table(lower(f.prosrc), '[^[:alnum:]_$]+') w)
                   OR position(('"' || replace(s.relname, '"', '""') || '"') IN f.prosrc) > 0
                   OR EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_proc'::regclass
                                 AND d.objid = f.oid AND d.refobjid = s.oid)
                ORDER BY 1) AS tables
    FROM definers f JOIN pg_catalog.pg_namespace fn ON fn.oid = f.pronamespace
   WHERE fn.nspname NOT IN ('pg_catalog', 'information_schema') AND fn.nspname <> :'state_schema'
)
SELECT f.tables[1] AS table_name, f.oid::regprocedure::text AS object, NULL::bigint AS count, NULL::text[] AS samples,
       format('SECURITY DEFINER function %s (owner %s) touches %s and can be executed by %s%s', f.oid::regprocedure,
              pg_catalog.pg_get_userbyid((SELECT proowner FROM pg_catalog.pg_proc WHERE oid = f.oid)),
              array_to_string(f.tables, ', '), callers.roles,
              CASE WHEN NOT f.pinned THEN '; its search_path is not pinned'
                   WHEN f.proname = ANY (:'definer_functions'::text[]) THEN '; allowed by the manifest: ' || (:'definer_reasons'::text[])[array_position(:'definer_functions'::text[], f.proname::text)]
                   ELSE '' END) AS message,
       CASE WHEN NOT f.pinned THEN 'error' WHEN f.proname = ANY (:'definer_functions'::text[]) THEN 'info' END AS severity
  FROM funcs f
  CROSS JOIN LATERAL (SELECT string_agg(r.rolname, ', ' ORDER BY r.rolname) AS roles FROM pg_catalog.pg_roles r
                       WHERE r.rolname = ANY (:'app_roles'::text[]) AND pg_catalog.has_function_privilege(r.oid, f.oid, 'EXECUTE')) callers
 WHERE cardinality(f.tables) > 0 AND callers.roles IS NOT NULL
 ORDER BY 2;
