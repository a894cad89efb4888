-- id: permissive-policy-bypass
-- title: A permissive policy wider than the tenant predicate
-- severity: error
-- kind: policy
-- remediation: Drop the policy, or narrow it to include the tenant predicate; if it must stay, add the tenant predicate as a RESTRICTIVE policy (AND-ed with every permissive one). Roles that must see every tenant belong under `roles.bypass` with a reason.
--
-- Policy check: permissive policies are OR-ed, so one permissive policy for an application role
-- whose USING or WITH CHECK is wider than the tenant predicate (`true`, an OR with something else,
-- no tenant comparison at all) opens every tenant's rows — unless a RESTRICTIVE tenant policy for
-- the same command also applies to every application role the permissive one applies to (directly,
-- through PUBLIC or through a role they belong to). Expressions are read with the PostgreSQL parser. A FOR ALL /
-- FOR UPDATE policy without WITH CHECK reuses USING (safe); an explicit WITH CHECK (true) is the
-- write hole. Policies that apply only to the manifest's bypass roles are reported as info. On a
-- table the manifest declares `shared_rows: true`, a SELECT may also admit `<tenant column> IS NULL`
-- (the shared rows every tenant reads); on any other table, or for a write, that OR is reported.
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
SELECT rel.table_name, CASE WHEN rel.partition IS NULL THEN p.polname::text ELSE format('%s on partition %s', p.polname, rel.partition) END AS policy, p.polcmd AS command,
       CASE WHEN rel.partition IS NULL AND rel.table_name = :'tenant_table' THEN :'tenant_key' ELSE :'tenant_column' END AS compared_column,
       rel.table_name = ANY (:'shared_tables'::text[]) AS shared_rows,
       pg_catalog.pg_get_expr(p.polqual, p.polrelid) AS using_expr,
       pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid) AS check_expr,
       ARRAY(SELECT r.rolname::text FROM pg_catalog.pg_roles r
              WHERE r.rolname = ANY (:'app_roles'::text[])
                AND (p.polroles = '{0}' OR EXISTS (SELECT 1 FROM unnest(p.polroles) pr WHERE pg_catalog.pg_has_role(r.oid, pr, 'MEMBER')))
              ORDER BY 1) AS app_roles,
       ARRAY(SELECT r.rolname::text FROM pg_catalog.pg_roles r
              WHERE r.rolname = ANY (:'bypass_roles'::text[]) AND r.oid = ANY (p.polroles) ORDER BY 1) AS bypass_roles,
       ARRAY(SELECT CASE WHEN pr = 0 THEN 'public' ELSE pg_catalog.pg_get_userbyid(pr)::text END FROM unnest(p.polroles) pr ORDER BY 1) AS roles,
       coalesce((SELECT jsonb_agg(jsonb_build_object('name', rp.polname, 'command', rp.polcmd,
                                   'using', pg_catalog.pg_get_expr(rp.polqual, rp.polrelid),
                                   'check', pg_catalog.pg_get_expr(rp.polwithcheck, rp.polrelid),
                                   'roles', ARRAY(SELECT CASE WHEN x = 0 THEN 'public' ELSE pg_catalog.pg_get_userbyid(x)::text END FROM unnest(rp.polroles) x),
                                   'app_roles', ARRAY(SELECT r.rolname::text FROM pg_catalog.pg_roles r
                                                       WHERE r.rolname = ANY (:'app_roles'::text[])
                                                         AND (rp.polroles = '{0}' OR EXISTS (SELECT 1 FROM unnest(rp.polroles) pr WHERE pg_catalog.pg_has_role(r.oid, pr, 'MEMBER'))))))
                   FROM pg_catalog.pg_policy rp WHERE rp.polrelid = c.oid AND NOT rp.polpermissive), '[]'::jsonb) AS restrictive
  FROM pg_catalog.pg_policy p
  JOIN rel ON rel.oid = p.polrelid
  JOIN pg_catalog.pg_class c ON c.oid = p.polrelid
 WHERE p.polpermissive
 ORDER BY 1, 2;
