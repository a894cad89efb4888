-- id: tenant-setting-default
-- title: A role or database default sets the tenant setting
-- severity: error
-- kind: catalog
-- remediation: `ALTER ROLE <role> [IN DATABASE <db>] RESET <setting>`, `ALTER DATABASE <db> RESET <setting>` or `ALTER ROLE ALL [IN DATABASE <db>] RESET <setting>` (the statement the finding names); the application sets the tenant per transaction (`set_config(<setting>, …, true)`), never as a default.
--
-- `ALTER ROLE … SET`, `ALTER DATABASE … SET` and `ALTER ROLE ALL … SET` store a default that
-- PostgreSQL applies at login: a session that sets no tenant then reads and writes the default
-- tenant's rows instead of none, so "no tenant set → no rows" no longer holds. Reported for
-- defaults of the application roles, of the login roles that are members of them, of every role
-- (ALL) and of this database, when the value is not empty. `SET ROLE` does not apply role
-- defaults: only a real login shows the leak, so a probe that switches roles misses it.
WITH app AS (
  SELECT r.oid, r.rolname
    FROM unnest(:'app_roles'::text[]) a(name) JOIN pg_catalog.pg_roles r ON r.rolname = a.name
), defaults AS (
  SELECT s.setrole, s.setdatabase, r.rolname, d.datname,
         substr(cfg, strpos(cfg, '=') + 1) AS value,
         (r.oid IS NULL OR r.oid IN (SELECT oid FROM app)) AS app_or_all
    FROM pg_catalog.pg_db_role_setting s
    CROSS JOIN LATERAL unnest(s.setconfig) cfg
    LEFT JOIN pg_catalog.pg_roles r ON r.oid = s.setrole
    LEFT JOIN pg_catalog.pg_database d ON d.oid = s.setdatabase
   WHERE (s.setdatabase = 0 OR d.datname = current_database())
     AND lower(split_part(cfg, '=', 1)) = lower(:'setting')
     AND substr(cfg, strpos(cfg, '=') + 1) <> ''
     AND (s.setrole = 0
          OR r.rolname = ANY (:'app_roles'::text[])
          -- a login role that is a member of an application role acts as it with its own defaults
          -- (a superuser is a member of every role: not counted; it bypasses row-level security anyway)
          OR (NOT r.rolsuper AND EXISTS (SELECT 1 FROM app WHERE pg_catalog.pg_has_role(r.oid, app.oid, 'MEMBER'))))
)
SELECT NULL::text AS table_name,
       CASE WHEN d.setrole = 0 AND d.setdatabase = 0 THEN 'ALL'
            WHEN d.setrole = 0 THEN format('database %s', d.datname)
            WHEN d.setdatabase = 0 THEN d.rolname::text
            ELSE format('%s in database %s', d.rolname, d.datname) END AS object,
       NULL::bigint AS count, NULL::text[] AS samples,
       format('%s SET %s = %L: a session %s that sets no tenant sees tenant %s''s rows instead of none',
              CASE WHEN d.setrole = 0 AND d.setdatabase = 0 THEN 'ALTER ROLE ALL'
                   WHEN d.setrole = 0 THEN format('ALTER DATABASE %s (or ALTER ROLE ALL IN DATABASE %s)', d.datname, d.datname)
                   WHEN d.setdatabase = 0 THEN format('ALTER ROLE %s', d.rolname)
                   ELSE format('ALTER ROLE %s IN DATABASE %s', d.rolname, d.datname) END,
              :'setting', d.value,
              CASE WHEN d.setrole = 0 THEN 'of any role'
                   WHEN d.app_or_all THEN format('of %s', d.rolname)
                   ELSE format('of %s (a member of an application role)', d.rolname) END,
              d.value) AS message,
       NULL::text AS severity
  FROM defaults d
 ORDER BY 2;
