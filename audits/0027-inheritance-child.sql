-- id: inheritance-child
-- title: An inheritance child of a scoped table without forced row-level security
-- severity: error
-- kind: catalog
-- remediation: Enable and force row-level security on the child and give it the parent's tenant policy (or list it under `tables:` and run `crm-tenancy generate` and `crm-tenancy policies apply`); or revoke the application's access to it; or, when it is an old copy, `ALTER TABLE <child> NO INHERIT <parent>` and move it out of the application's reach.
--
-- A table created with `INHERITS (<scoped table>)` (pg_inherits, not a declarative partition:
-- those are partition-without-rls's) holds rows with the tenant column. Queried through the parent
-- it follows the parent's policies, but queried by its own name only its own row-level security
-- applies: without it every tenant's rows are readable. Reported, at any depth, when an
-- application role (or a role it is a member of) can reach the child's schema and SELECT, INSERT,
-- UPDATE or DELETE on it, and the child does not have row-level security both enabled and forced.
-- A child that is itself a scoped table in the manifest is left to the other checks.
WITH RECURSIVE app AS (
  SELECT r.oid, r.rolname
    FROM unnest(:'app_roles'::text[]) a(name) JOIN pg_catalog.pg_roles r ON r.rolname = a.name
), scoped AS (
  SELECT c.oid, c.relname
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname = :'schema' AND (c.relname = ANY (:'scoped_tables'::text[]) OR c.relname = :'tenant_table')
     AND c.relkind IN ('r', 'p')
), tree AS (
  SELECT i.inhrelid AS child, s.relname AS table_name, 1 AS depth
    FROM pg_catalog.pg_inherits i JOIN scoped s ON s.oid = i.inhparent
  UNION
  SELECT i.inhrelid, t.table_name, t.depth + 1
    FROM pg_catalog.pg_inherits i JOIN tree t ON i.inhparent = t.child
   WHERE t.depth < 20
), children AS (
  SELECT DISTINCT t.table_name, c.oid, c.relnamespace, format('%s.%s', cn.nspname, c.relname) AS child_name,
         c.relrowsecurity, c.relforcerowsecurity
    FROM tree t
    JOIN pg_catalog.pg_class c ON c.oid = t.child
    JOIN pg_catalog.pg_namespace cn ON cn.oid = c.relnamespace
   WHERE NOT c.relispartition AND c.relkind IN ('r', 'p', 'f')
     AND NOT (c.relrowsecurity AND c.relforcerowsecurity)
     AND NOT (cn.nspname = :'schema' AND (c.relname = ANY (:'scoped_tables'::text[]) OR c.relname = :'tenant_table'))
), access AS (
  SELECT ch.table_name, ch.child_name, ch.relrowsecurity, app.rolname AS role,
         ARRAY(SELECT p FROM unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']) p
                WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
                               WHERE pg_catalog.pg_has_role(app.oid, r.oid, 'MEMBER')
                                 AND pg_catalog.has_schema_privilege(r.oid, ch.relnamespace, 'USAGE')
                                 AND pg_catalog.has_table_privilege(r.oid, ch.oid, p))) AS privileges
    FROM children ch CROSS JOIN app
)
SELECT a.table_name::text AS table_name, a.child_name AS object, NULL::bigint AS count, NULL::text[] AS samples,
       format('%s inherits from %s.%s and has %s; %s: queried by its own name it shows every tenant''s rows',
              a.child_name, :'schema', a.table_name,
              CASE WHEN a.relrowsecurity THEN 'row-level security not forced' ELSE 'no row-level security' END,
              string_agg(format('%s can %s it', a.role, array_to_string(a.privileges, ', ')), '; ' ORDER BY a.role)) AS message,
       NULL::text AS severity
  FROM access a
 WHERE cardinality(a.privileges) > 0
 GROUP BY a.table_name, a.child_name, a.relrowsecurity
 ORDER BY 1, 2;
