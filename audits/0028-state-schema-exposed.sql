-- id: state-schema-exposed
-- title: The bookkeeping schema is readable or writable by an application role
-- severity: error
-- kind: catalog
-- remediation: `REVOKE ALL ON ALL TABLES IN SCHEMA <state schema> FROM <grantee>` and `REVOKE ALL ON SCHEMA <state schema> FROM <grantee>` for the grantee the finding names (the application role, PUBLIC or a role it is a member of); only the migration role and the auditor need it.
--
-- The toolkit's bookkeeping schema (`state_schema`, default crm_tenancy) keeps full copies of rows
-- of every tenant (dedupe_archive, the undo records) and the runs that `undo` replays with the
-- migration role's rights. None of it has row-level security: an application role that can use
-- the schema and read a table there reads every tenant's archived rows; one that can write there
-- can plant rows that a later `undo` restores into any tenant, or objects the toolkit then uses.
-- Reported per table when an application role (directly, through PUBLIC or a role it is a member
-- of, inherited or by SET ROLE) has USAGE on the schema and any privilege on the table, and for
-- the schema when it has CREATE on it.
WITH app AS (
  SELECT r.oid, r.rolname
    FROM unnest(:'app_roles'::text[]) a(name) JOIN pg_catalog.pg_roles r ON r.rolname = a.name
   WHERE NOT r.rolsuper
), state AS (
  SELECT n.oid, n.nspname FROM pg_catalog.pg_namespace n WHERE n.nspname = :'state_schema'
), reach AS (
  -- (application role, a role whose privileges it has or can SET ROLE to), itself included
  SELECT app.rolname AS app_name, r.oid AS role_oid, r.rolname AS role_name
    FROM app JOIN pg_catalog.pg_roles r ON pg_catalog.pg_has_role(app.oid, r.oid, 'MEMBER')
), tables AS (
  SELECT c.oid, format('%s.%s', st.nspname, c.relname) AS name, rc.app_name,
         ARRAY(SELECT p FROM unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) p
                WHERE pg_catalog.has_table_privilege(rc.role_oid, c.oid, p)) AS privileges
    FROM state st
    JOIN pg_catalog.pg_class c ON c.relnamespace = st.oid AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
    JOIN reach rc ON pg_catalog.has_schema_privilege(rc.role_oid, st.oid, 'USAGE')
), held AS (
  SELECT t.name, t.app_name, array_agg(DISTINCT p ORDER BY p) AS privileges
    FROM tables t CROSS JOIN LATERAL unnest(t.privileges) p
   GROUP BY t.name, t.app_name
)
SELECT NULL::text AS table_name, h.name AS object, NULL::bigint AS count, NULL::text[] AS samples,
       format('bookkeeping table %s (no row-level security; archived rows of every tenant) is open to %s',
              h.name, string_agg(format('%s (%s)', h.app_name, array_to_string(h.privileges, ', ')), ', ' ORDER BY h.app_name)) AS message,
       NULL::text AS severity
  FROM held h
 GROUP BY h.name
UNION ALL
SELECT NULL, st.nspname::text, NULL, NULL,
       format('application role %s can CREATE in the bookkeeping schema %s: it can plant tables or functions the toolkit then uses with its own rights',
              string_agg(DISTINCT rc.app_name::text, ', '), st.nspname),
       NULL
  FROM state st JOIN reach rc ON pg_catalog.has_schema_privilege(rc.role_oid, st.oid, 'CREATE')
 GROUP BY st.nspname
 ORDER BY 2;
