-- id: app-role-owns-table
-- title: An application role owns a scoped table, or can become its owner
-- severity: error
-- kind: catalog
-- remediation: `ALTER TABLE <table> OWNER TO <migration role>` (a role the application is not a member of), or `REVOKE <owner> FROM <app role>` when the finding names a membership; for the schema, `ALTER SCHEMA <schema> OWNER TO <migration role>`.
--
-- The owner of a table may `ALTER TABLE … NO FORCE ROW LEVEL SECURITY`, `DISABLE ROW LEVEL
-- SECURITY` or drop the policies, and then reads every tenant: FORCE protects only until the owner
-- turns it off. Reported when an application role owns a scoped table, one of its partitions or
-- the tenant table, or is a member of the role that owns it (it inherits the owner's rights or can
-- SET ROLE to it); and when it owns the schema of the scoped tables (a schema's owner may drop
-- every table in it). A superuser application role is app-role-bypasses-rls's.
WITH app AS (
  SELECT r.oid, r.rolname
    FROM unnest(:'app_roles'::text[]) a(name) JOIN pg_catalog.pg_roles r ON r.rolname = a.name
   WHERE NOT r.rolsuper
), scoped AS (
  SELECT c.oid, c.relname
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname = :'schema' AND (c.relname = ANY (:'scoped_tables'::text[]) OR c.relname = :'tenant_table')
     AND c.relkind IN ('r', 'p')
), rels AS (
  -- The scoped tables and the tenant table, and every partition below them.
  SELECT s.relname AS table_name, s.oid, false AS is_partition, format('%s.%s', :'schema', s.relname) AS rel_name
    FROM scoped s
  UNION ALL
  SELECT s.relname, t.relid, true, format('%s.%s', pn.nspname, pc.relname)
    FROM scoped s
    CROSS JOIN LATERAL pg_catalog.pg_partition_tree(s.oid) t
    JOIN pg_catalog.pg_class pc ON pc.oid = t.relid
    JOIN pg_catalog.pg_namespace pn ON pn.oid = pc.relnamespace
   WHERE t.level > 0
), owned AS (
  SELECT rels.table_name, rels.rel_name, rels.is_partition, app.rolname AS role, c.relowner = app.oid AS direct,
         pg_catalog.pg_get_userbyid(c.relowner) AS owner,
         pg_catalog.pg_has_role(app.oid, c.relowner, 'USAGE') AS inherits
    FROM rels
    JOIN pg_catalog.pg_class c ON c.oid = rels.oid
    JOIN app ON pg_catalog.pg_has_role(app.oid, c.relowner, 'MEMBER')
)
SELECT o.table_name::text AS table_name,
       CASE WHEN o.is_partition THEN format('%s on %s', o.role, o.rel_name) ELSE o.role::text END AS object,
       NULL::bigint AS count, NULL::text[] AS samples,
       format('%s %s: it can turn row-level security off (ALTER TABLE … NO FORCE / DISABLE ROW LEVEL SECURITY, DROP POLICY) and read every tenant',
              CASE WHEN o.direct THEN format('application role %s owns', o.role)
                   ELSE format('application role %s is a member of %s (%s), which owns', o.role, o.owner,
                               CASE WHEN o.inherits THEN 'it inherits the owner''s rights' ELSE 'it can SET ROLE to it' END) END,
              CASE WHEN o.is_partition THEN format('partition %s of %s.%s', o.rel_name, :'schema', o.table_name) ELSE o.rel_name END) AS message,
       NULL::text AS severity
  FROM owned o
UNION ALL
SELECT NULL, format('%s on schema %s', app.rolname, n.nspname), NULL, NULL,
       format('application role %s %s schema %s: the owner of a schema may drop every table in it, every tenant''s rows with them',
              app.rolname,
              CASE WHEN n.nspowner = app.oid THEN 'owns'
                   ELSE format('is a member of %s, which owns', pg_catalog.pg_get_userbyid(n.nspowner)) END,
              n.nspname),
       NULL
  FROM pg_catalog.pg_namespace n
  JOIN app ON pg_catalog.pg_has_role(app.oid, n.nspowner, 'MEMBER')
 WHERE n.nspname = :'schema'
 ORDER BY 1 NULLS FIRST, 2;
