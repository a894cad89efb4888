-- id: unsafe-setting-read
-- title: A policy reads the tenant setting unsafely, or falls back to another value
-- severity: warning
-- kind: policy
-- remediation: Read it as (SELECT nullif(current_setting('<setting>', true), '')::<type>): missing_ok so an unset tenant is not an error, nullif so '' (left by an earlier SET LOCAL) does not fail the cast, the scalar subquery so it is read once per statement, no VOLATILE function, and no fallback (COALESCE, CASE, a default in a wrapper function): an unset tenant must see no rows.
--
-- Policy check, with the PostgreSQL parser. An error: a tenant equality whose value can be something
-- else than the setting — every argument of COALESCE, every CASE branch, GREATEST/LEAST and the
-- body of a wrapper function are values it can take — so `company_id = coalesce(<setting>,
-- company_id)` matches every row, and a wrapper returning coalesce(<setting>, 2) tenant 2's rows,
-- when no tenant is set. Warnings: current_setting() without missing_ok raises when no
-- tenant is set; a cast without nullif raises on '' (what current_setting(x, true) returns on a
-- connection where an earlier transaction used SET LOCAL); a different setting name means the
-- application's setting is never read; a VOLATILE function is evaluated for every row. A STABLE
-- read that is not wrapped in a scalar subquery is reported as info (it may be evaluated per row).
WITH rel AS (
  -- The scoped tables, the tenant table, and every partition of a scoped table (a query on a
  -- partition itself is judged by the partition's own policies), reported under the scoped table.
  SELECT t.oid, t.relname AS table_name, NULL::text AS partition
    FROM pg_catalog.pg_class t
    JOIN pg_catalog.pg_namespace tn ON tn.oid = t.relnamespace
   WHERE tn.nspname = :'schema' AND (t.relname = ANY (:'scoped_tables'::text[]) OR t.relname = :'tenant_table')
     AND t.relkind IN ('r', 'p')
  UNION ALL
  SELECT pc.oid, t.relname, format('%s.%s', pn.nspname, pc.relname)
    FROM pg_catalog.pg_class t
    JOIN pg_catalog.pg_namespace tn ON tn.oid = t.relnamespace
   CROSS JOIN LATERAL pg_catalog.pg_partition_tree(t.oid) tree
    JOIN pg_catalog.pg_class pc ON pc.oid = tree.relid
    JOIN pg_catalog.pg_namespace pn ON pn.oid = pc.relnamespace
   WHERE tn.nspname = :'schema' AND t.relname = ANY (:'scoped_tables'::text[]) AND t.relkind = 'p' AND tree.level > 0
)
SELECT rel.table_name, CASE WHEN rel.partition IS NULL THEN p.polname::text ELSE format('%s on partition %s', p.polname, rel.partition) END AS policy,
       CASE WHEN rel.partition IS NULL AND rel.table_name = :'tenant_table' THEN :'tenant_key' ELSE :'tenant_column' END AS compared_column,
       pg_catalog.pg_get_expr(p.polqual, p.polrelid) AS using_expr,
       pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid) AS check_expr,
       ARRAY(SELECT DISTINCT f.oid::regprocedure::text FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_proc f ON f.oid = d.refobjid
              WHERE d.classid = 'pg_catalog.pg_policy'::regclass AND d.objid = p.oid
                AND d.refclassid = 'pg_catalog.pg_proc'::regclass AND f.provolatile = 'v' ORDER BY 1) AS volatile_functions
  FROM pg_catalog.pg_policy p
  JOIN rel ON rel.oid = p.polrelid
  JOIN pg_catalog.pg_class c ON c.oid = p.polrelid
 ORDER BY 1, 2;
