-- id: unsafe-setting-read
-- title: A policy reads the tenant setting unsafely
-- severity: warning
-- kind: policy
-- remediation: Read it as (SELECT nullif(current_setting('<setting>', true), '')::<type>): missing_ok so an unset tenant is not an error, nullif so '' (left by an earlier SET LOCAL) does not fail the cast, the scalar subquery so it is read once per statement, and no VOLATILE function.
--
-- Policy check, with the PostgreSQL parser: current_setting() without missing_ok raises when no
-- tenant is set; a cast without nullif raises on '' (what current_setting(x, true) returns on a
-- connection where an earlier transaction used SET LOCAL); a different setting name means the
-- application's setting is never read; a VOLATILE function is evaluated for every row. A STABLE
-- read that is not wrapped in a scalar subquery is reported as info (it may be evaluated per row).
SELECT c.relname AS table_name, p.polname::text AS policy,
       CASE WHEN c.relname = :'tenant_table' THEN :'tenant_key' ELSE :'tenant_column' END AS compared_column,
       pg_catalog.pg_get_expr(p.polqual, p.polrelid) AS using_expr,
       pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid) AS check_expr,
       ARRAY(SELECT DISTINCT f.oid::regprocedure::text FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_proc f ON f.oid = d.refobjid
              WHERE d.classid = 'pg_catalog.pg_policy'::regclass AND d.objid = p.oid
                AND d.refclassid = 'pg_catalog.pg_proc'::regclass AND f.provolatile = 'v' ORDER BY 1) AS volatile_functions
  FROM pg_catalog.pg_policy p
  JOIN pg_catalog.pg_class c ON c.oid = p.polrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = :'schema' AND (c.relname = ANY (:'scoped_tables'::text[]) OR c.relname = :'tenant_table')
   AND c.relkind IN ('r', 'p')
 ORDER BY 1, 2;
