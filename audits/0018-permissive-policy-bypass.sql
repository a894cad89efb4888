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
-- write hole. Policies that apply only to the manifest's bypass roles are reported as info.
SELECT c.relname AS table_name, p.polname::text AS policy, p.polcmd AS command,
       CASE WHEN c.relname = :'tenant_table' THEN :'tenant_key' ELSE :'tenant_column' END AS compared_column,
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
  JOIN pg_catalog.pg_class c ON c.oid = p.polrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = :'schema' AND (c.relname = ANY (:'scoped_tables'::text[]) OR c.relname = :'tenant_table')
   AND c.relkind IN ('r', 'p') AND p.polpermissive
 ORDER BY 1, 2;
