-- id: app-role-table-privilege
-- title: An application role holds a table privilege that row-level security does not govern
-- severity: error
-- kind: catalog
-- remediation: `REVOKE TRUNCATE, TRIGGER, REFERENCES ON <table> FROM <grantee>` for the grantee the finding names (the application role, PUBLIC, or the role it reaches by membership); the generated policy files grant the application only SELECT, INSERT, UPDATE and DELETE.
--
-- Row-level security filters SELECT, INSERT, UPDATE and DELETE, nothing else. TRUNCATE empties the
-- table for every tenant; TRIGGER lets the role attach its own code to every tenant's writes;
-- REFERENCES lets a role that can create a table (CREATE on a schema) or owns one point a foreign
-- key at the table and learn which keys other tenants have (foreign-key checks ignore row-level
-- security). Reported on scoped tables, their partitions and the tenant table, whether the
-- privilege is granted to the application role, to PUBLIC or to a role the application role is a
-- member of (inherited, or reachable by SET ROLE). The owner's own privileges are
-- app-role-owns-table's; a superuser application role is app-role-bypasses-rls's.
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
), grants AS (
  SELECT rels.table_name, rels.rel_name, rels.is_partition, acl.grantee, acl.privilege_type
    FROM rels
    JOIN pg_catalog.pg_class c ON c.oid = rels.oid
    CROSS JOIN LATERAL pg_catalog.aclexplode(c.relacl) acl
   WHERE acl.privilege_type IN ('TRUNCATE', 'TRIGGER', 'REFERENCES') AND acl.grantee <> c.relowner
  UNION
  -- REFERENCES granted on a column is enough for a foreign key to that column.
  SELECT rels.table_name, rels.rel_name, rels.is_partition, acl.grantee, acl.privilege_type
    FROM rels
    JOIN pg_catalog.pg_class c ON c.oid = rels.oid
    JOIN pg_catalog.pg_attribute att ON att.attrelid = c.oid AND att.attnum > 0 AND NOT att.attisdropped
    CROSS JOIN LATERAL pg_catalog.aclexplode(att.attacl) acl
   WHERE acl.privilege_type = 'REFERENCES' AND acl.grantee <> c.relowner
), builders AS (
  -- Application roles that could build a foreign key: CREATE on a (non-temporary) schema, or a
  -- table of their own, as themselves or as a role they can SET ROLE to. A temporary table cannot
  -- reference a permanent one.
  SELECT app.oid
    FROM app
   WHERE EXISTS (
     SELECT 1 FROM pg_catalog.pg_roles r
      WHERE pg_catalog.pg_has_role(app.oid, r.oid, 'MEMBER')
        AND (EXISTS (SELECT 1 FROM pg_catalog.pg_namespace n
                      WHERE n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema'
                        AND pg_catalog.has_schema_privilege(r.oid, n.oid, 'CREATE'))
             OR EXISTS (SELECT 1 FROM pg_catalog.pg_class t WHERE t.relowner = r.oid AND t.relkind IN ('r', 'p'))))
), held AS (
  SELECT g.table_name, g.rel_name, g.is_partition, app.rolname AS role, g.privilege_type AS privilege,
         CASE WHEN g.grantee = 0 THEN 'PUBLIC'
              WHEN g.grantee = app.oid THEN app.rolname::text
              ELSE format('%s, of which %s is a member', pg_catalog.pg_get_userbyid(g.grantee), app.rolname) END AS grantee
    FROM grants g
    JOIN app ON g.grantee = 0 OR pg_catalog.pg_has_role(app.oid, g.grantee, 'MEMBER')
   WHERE g.privilege_type <> 'REFERENCES' OR app.oid IN (SELECT oid FROM builders)
)
SELECT h.table_name::text AS table_name,
       CASE WHEN h.is_partition THEN format('%s on %s', h.role, h.rel_name) ELSE h.role::text END AS object,
       NULL::bigint AS count, NULL::text[] AS samples,
       format('application role %s can %s on %s%s',
              h.role,
              string_agg(format('%s (granted to %s)', h.privilege, h.grantee), ', ' ORDER BY h.privilege, h.grantee),
              CASE WHEN h.is_partition THEN format('partition %s of %s.%s', h.rel_name, :'schema', h.table_name)
                   ELSE format('%s.%s', :'schema', h.table_name) END,
              concat(CASE WHEN bool_or(h.privilege = 'TRUNCATE') THEN '; TRUNCATE empties it for every tenant (row-level security does not apply)' END,
                     CASE WHEN bool_or(h.privilege = 'TRIGGER') THEN '; TRIGGER attaches its own code to every tenant''s writes' END,
                     CASE WHEN bool_or(h.privilege = 'REFERENCES') THEN '; REFERENCES lets it build a foreign key that reveals which keys other tenants have' END)) AS message,
       NULL::text AS severity
  FROM held h
 GROUP BY h.table_name, h.rel_name, h.is_partition, h.role
 ORDER BY 1, 2;
