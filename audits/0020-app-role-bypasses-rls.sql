-- id: app-role-bypasses-rls
-- title: An application role bypasses row-level security
-- severity: error
-- kind: catalog
-- remediation: `ALTER ROLE <role> NOSUPERUSER NOBYPASSRLS NOREPLICATION NOCREATEROLE`; give the tables to another owner (`ALTER TABLE … OWNER TO <migration role>`) or FORCE row-level security; revoke membership in roles that bypass it (`REVOKE <role> FROM <app role>`), including pg_read_server_files, pg_write_server_files and pg_execute_server_program.
--
-- Superusers and BYPASSRLS roles skip every policy; a table's owner skips them unless FORCE ROW
-- LEVEL SECURITY; and a role that can SET ROLE into (or inherits) such a role can do the same. Any
-- of these makes the policies decorative for the application. So do the paths around them: a
-- REPLICATION role (its own or one it can SET ROLE to) reads every tenant's changes by logical
-- decoding; membership in pg_read_server_files, pg_write_server_files or pg_execute_server_program
-- reaches the data files or the server's shell; and before PostgreSQL 16 a CREATEROLE role can
-- grant itself any non-superuser role, a BYPASSRLS one or a table owner included. A missing
-- application role is a warning (nothing confines the role the application really uses). Roles
-- listed under `roles.bypass` with a reason are reported as info.
WITH app AS (
  SELECT a.name, r.oid, r.rolsuper, r.rolbypassrls
    FROM unnest(:'app_roles'::text[]) a(name) LEFT JOIN pg_catalog.pg_roles r ON r.rolname = a.name
), scoped AS (
  SELECT c.oid, c.relname, c.relowner, c.relforcerowsecurity
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname = :'schema' AND (c.relname = ANY (:'scoped_tables'::text[]) OR c.relname = :'tenant_table')
     AND c.relkind IN ('r', 'p')
), reasons AS (
  SELECT app.name AS role, NULL::text AS table_name, 'warning' AS severity,
         format('application role %s does not exist: nothing confines the role the application uses', app.name) AS message
    FROM app WHERE app.oid IS NULL
  UNION ALL
  SELECT app.name, NULL, NULL, format('application role %s is a superuser: superusers skip row-level security', app.name)
    FROM app WHERE app.rolsuper
  UNION ALL
  SELECT app.name, NULL, NULL, format('application role %s has BYPASSRLS', app.name)
    FROM app WHERE app.rolbypassrls AND NOT app.rolsuper
  UNION ALL
  SELECT app.name, s.relname, NULL,
         format('application role %s owns %s.%s (or inherits its owner %s) and the table is not FORCE ROW LEVEL SECURITY',
                app.name, :'schema', s.relname, pg_catalog.pg_get_userbyid(s.relowner))
    FROM app JOIN scoped s ON pg_catalog.pg_has_role(app.oid, s.relowner, 'USAGE')
   WHERE app.oid IS NOT NULL AND NOT app.rolsuper AND NOT s.relforcerowsecurity
  UNION ALL
  SELECT app.name, NULL, NULL,
         format('application role %s can SET ROLE to %s, which %s', app.name, r.rolname,
                CASE WHEN r.rolsuper THEN 'is a superuser' WHEN r.rolbypassrls THEN 'has BYPASSRLS'
                     ELSE 'owns a scoped table that is not FORCE ROW LEVEL SECURITY' END)
    FROM app JOIN pg_catalog.pg_roles r ON r.oid <> app.oid AND pg_catalog.pg_has_role(app.oid, r.oid, 'MEMBER')
   WHERE app.oid IS NOT NULL AND NOT app.rolsuper AND NOT r.rolname LIKE 'pg\_%'
     AND (r.rolsuper OR r.rolbypassrls OR EXISTS (SELECT 1 FROM scoped s WHERE s.relowner = r.oid AND NOT s.relforcerowsecurity))
     -- SUPERUSER and BYPASSRLS are attributes, never inherited: any membership lets the role SET ROLE
     -- into them. An inherited table owner is already reported above (ownership rights are inherited).
     AND (r.rolsuper OR r.rolbypassrls OR NOT pg_catalog.pg_has_role(app.oid, r.oid, 'USAGE'))
  UNION ALL
  -- REPLICATION is an attribute too: SET ROLE to such a role is enough for
  -- pg_logical_slot_get_changes() on a slot of its own, which shows every tenant's writes.
  SELECT app.name, NULL, NULL,
         CASE WHEN r.oid = app.oid THEN format('application role %s has REPLICATION: logical decoding shows every tenant''s writes', app.name)
              ELSE format('application role %s can SET ROLE to %s, which has REPLICATION: logical decoding shows every tenant''s writes', app.name, r.rolname) END
    FROM app JOIN pg_catalog.pg_roles r ON pg_catalog.pg_has_role(app.oid, r.oid, 'MEMBER')
   WHERE app.oid IS NOT NULL AND NOT app.rolsuper AND r.rolreplication AND NOT r.rolsuper
  UNION ALL
  SELECT app.name, NULL, NULL,
         format('application role %s is a member of %s: %s', app.name, r.rolname,
                CASE r.rolname WHEN 'pg_execute_server_program' THEN 'it runs programs as the server''s operating-system user'
                               WHEN 'pg_read_server_files' THEN 'it reads the server''s files, the tables'' data files included'
                               ELSE 'it writes the server''s files, its configuration included' END)
    FROM app JOIN pg_catalog.pg_roles r ON pg_catalog.pg_has_role(app.oid, r.oid, 'MEMBER')
   WHERE app.oid IS NOT NULL AND NOT app.rolsuper
     AND r.rolname IN ('pg_read_server_files', 'pg_write_server_files', 'pg_execute_server_program')
  UNION ALL
  -- Before PostgreSQL 16, CREATEROLE may grant membership in any non-superuser role.
  SELECT app.name, NULL, NULL,
         CASE WHEN r.oid = app.oid THEN format('application role %s has CREATEROLE: it can grant itself any non-superuser role (a BYPASSRLS role or a table owner) and SET ROLE to it', app.name)
              ELSE format('application role %s can SET ROLE to %s, which has CREATEROLE: it can grant itself any non-superuser role (a BYPASSRLS role or a table owner)', app.name, r.rolname) END
    FROM app JOIN pg_catalog.pg_roles r ON pg_catalog.pg_has_role(app.oid, r.oid, 'MEMBER')
   WHERE app.oid IS NOT NULL AND NOT app.rolsuper AND r.rolcreaterole AND NOT r.rolsuper
     AND current_setting('server_version_num')::int < 160000
  UNION ALL
  SELECT r.rolname::text, NULL, 'info',
         format('bypass role %s sees every tenant (%s): %s', r.rolname,
                CASE WHEN r.rolsuper THEN 'superuser' WHEN r.rolbypassrls THEN 'BYPASSRLS' ELSE 'its own policies' END,
                b.reason)
    FROM unnest(:'bypass_roles'::text[], :'bypass_reasons'::text[]) b(name, reason)
    JOIN pg_catalog.pg_roles r ON r.rolname = b.name
)
SELECT table_name, role AS object, NULL::bigint AS count, NULL::text[] AS samples, message, severity
  FROM reasons
 ORDER BY object, table_name NULLS FIRST, message;
