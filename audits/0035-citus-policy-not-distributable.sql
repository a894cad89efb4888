-- id: citus-policy-not-distributable
-- title: Citus: a policy on a table to distribute holds a subquery or a VOLATILE function
-- severity: error
-- kind: policy
-- target: citus
-- remediation: Set `distribution: citus` in the manifest and run generate: the policy files then read the setting as a STABLE expression without a subquery (company_id = nullif(current_setting('<setting>', true), '')::<type>), then `crm-tenancy policies apply`. In a policy of your own, replace the subquery by a join-free expression or a STABLE SQL function, and the VOLATILE function by a STABLE one.
--
-- Policy check, with the PostgreSQL parser. Citus refuses a subquery in a policy on a distributed
-- table (`unexpected non-SELECT command in SubLink`, measured on Citus 13.2.2): the scalar-subquery
-- form `(SELECT nullif(current_setting(…), ''))` the generated policies use on one node included.
-- A VOLATILE function in USING ends up in the WHERE clause of UPDATE and DELETE, which Citus
-- refuses on a distributed table. Read on the scoped tables (and their partitions) and the tenant
-- table unless it is a reference table.
WITH rel AS (
  SELECT t.oid, t.relname AS table_name, NULL::text AS partition
    FROM pg_catalog.pg_class t
    JOIN pg_catalog.pg_namespace tn ON tn.oid = t.relnamespace
   WHERE tn.nspname = :'schema' AND t.relname = ANY (:'distributed_tables'::text[]) AND t.relkind IN ('r', 'p')
  UNION ALL
  SELECT pc.oid, t.relname, format('%s.%s', pn.nspname, pc.relname)
    FROM pg_catalog.pg_class t
    JOIN pg_catalog.pg_namespace tn ON tn.oid = t.relnamespace
   CROSS JOIN LATERAL pg_catalog.pg_partition_tree(t.oid) tree
    JOIN pg_catalog.pg_class pc ON pc.oid = tree.relid
    JOIN pg_catalog.pg_namespace pn ON pn.oid = pc.relnamespace
   WHERE tn.nspname = :'schema' AND t.relname = ANY (:'distributed_tables'::text[]) AND t.relkind = 'p' AND tree.level > 0
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
 ORDER BY 1, 2;
