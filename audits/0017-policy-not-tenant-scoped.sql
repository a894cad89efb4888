-- id: policy-not-tenant-scoped
-- title: No policy compares the tenant column with the tenant setting
-- severity: error
-- kind: policy
-- remediation: Apply the generated tenant policy (`crm-tenancy generate`, `crm-tenancy policies apply`): USING and WITH CHECK (tenant = (SELECT nullif(current_setting('<setting>', true), '')::<type>)).
--
-- Policy check: for each application role and each command it is granted on a table under
-- row-level security, the policies that apply to it (its own, PUBLIC's, its member roles') are
-- read with the PostgreSQL parser (libpg-query on pg_get_expr output). Reported when none of them
-- compares the tenant column (the tenant key, on the tenant table) with the configured setting:
-- rows are then filtered by something else, or not at all. Also reported: a permissive policy that
-- compares the column with the setting in a way other tenants' rows satisfy (`>=`, `<>`, `IS NOT
-- DISTINCT FROM`, `IN (<setting>, 2)`, NOT (… = …)). A policy that compares it but is widened (OR,
-- WITH CHECK (true)) is permissive-policy-bypass's finding; a tenant equality whose value falls
-- back to something else (COALESCE(<setting>, company_id)) is unsafe-setting-read's. A command no
-- permissive policy admits (none at all, or FOR INSERT without WITH CHECK) is denied, not a hole.
SELECT c.relname AS table_name, r.rolname::text AS role,
       CASE WHEN c.relname = :'tenant_table' THEN :'tenant_key' ELSE :'tenant_column' END AS compared_column,
       ARRAY(SELECT cmd FROM unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']) cmd
              WHERE pg_catalog.has_table_privilege(r.oid, c.oid, cmd)) AS granted,
       coalesce(jsonb_agg(jsonb_build_object(
                  'name', p.polname, 'command', p.polcmd, 'permissive', p.polpermissive,
                  'using', pg_catalog.pg_get_expr(p.polqual, p.polrelid),
                  'check', pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid)) ORDER BY p.polname)
                FILTER (WHERE p.oid IS NOT NULL), '[]'::jsonb) AS policies
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_catalog.pg_roles r ON r.rolname = ANY (:'app_roles'::text[])
  LEFT JOIN pg_catalog.pg_policy p
         ON p.polrelid = c.oid
        AND (p.polroles = '{0}' OR EXISTS (SELECT 1 FROM unnest(p.polroles) pr WHERE pg_catalog.pg_has_role(r.oid, pr, 'MEMBER')))
 WHERE n.nspname = :'schema' AND (c.relname = ANY (:'scoped_tables'::text[]) OR c.relname = :'tenant_table')
   AND c.relkind IN ('r', 'p') AND c.relrowsecurity
 GROUP BY c.oid, c.relname, r.oid, r.rolname
 ORDER BY 1, 2;
