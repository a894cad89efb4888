-- id: security-definer-function
-- title: A SECURITY DEFINER function the application can call, or that fires on its writes
-- severity: error
-- kind: catalog
-- remediation: Make it SECURITY INVOKER if it need not bypass row-level security, or REVOKE EXECUTE from PUBLIC and the application roles (drop the trigger, for a trigger function); a function that must run as its owner (a login lookup): keep it narrow, pin `SET search_path = pg_catalog, pg_temp`, schema-qualify every reference and list it under `definer_functions` with a reason.
--
-- A SECURITY DEFINER function runs with its owner's rights: when the owner bypasses row-level
-- security it can hand any tenant's rows to its caller, whatever its body looks like (dynamic SQL
-- names no table). Every such function, in any schema, that an application role can EXECUTE
-- (directly, through PUBLIC — the default — or a role it is a member of) is an error unless it is
-- listed under `definer_functions`; and so is every SECURITY DEFINER trigger function on a table
-- the application can write (it runs as its owner on every write, e.g. copying rows somewhere the
-- application can read). Listed functions are info, or an error while their search_path is not
-- pinned (a caller could shadow the objects they use). Functions owned by a role whose rights the
-- application role already has are not reported (they give it nothing).
WITH app AS (
  SELECT r.oid, r.rolname
    FROM unnest(:'app_roles'::text[]) a(name) JOIN pg_catalog.pg_roles r ON r.rolname = a.name
   WHERE NOT r.rolsuper  -- a superuser application role is app-role-bypasses-rls's
), reach AS (
  -- (application role, a role whose privileges it has or can SET ROLE to), itself included
  SELECT app.oid AS app_oid, app.rolname AS app_name, r.oid AS role_oid
    FROM app JOIN pg_catalog.pg_roles r ON pg_catalog.pg_has_role(app.oid, r.oid, 'MEMBER')
), scoped AS (
  SELECT c.oid, c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname = :'schema' AND (c.relname = ANY (:'scoped_tables'::text[]) OR c.relname = :'tenant_table')
     AND c.relkind IN ('r', 'p')
), definers AS MATERIALIZED (
  -- Few rows: filtering them first keeps the estimated cost low (no JIT compilation for a 1 ms query).
  SELECT f.oid, f.pronamespace, f.proname, f.proconfig, f.prosrc, f.proowner, f.prorettype, f.prolang, f.proargtypes
    FROM pg_catalog.pg_proc f
   WHERE f.prosecdef
), funcs AS (
  SELECT f.oid, f.proname, f.proowner, f.prorettype,
         -- Always schema-qualified (a regprocedure drops the schema when it is on the search_path).
         format('%s.%s(%s)', quote_ident(fn.nspname), quote_ident(f.proname),
                array_to_string(ARRAY(SELECT pg_catalog.format_type(t, NULL) FROM unnest(f.proargtypes::oid[]) WITH ORDINALITY a(t, i) ORDER BY i), ', ')) AS signature,
         EXISTS (SELECT 1 FROM unnest(f.proconfig) cfg WHERE cfg LIKE 'search_path=%') AS pinned,
         f.proname = ANY (:'definer_functions'::text[]) AS listed,
         l.lanname NOT IN ('sql', 'c', 'internal') AND f.prosrc ~* '\mexecute\M' AS dynamic,
         -- The scoped tables its body names or it depends on: for the message only (a dynamic query names none).
         ARRAY(SELECT s.relname::text FROM scoped s
                WHERE lower(s.relname) IN (SELECT w FROM regexp_split_to_table(lower(f.prosrc), '[^[:alnum:]_$]+') w)
                   OR position(('"' || replace(s.relname, '"', '""') || '"') IN f.prosrc) > 0
                   OR EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_proc'::regclass
                                 AND d.objid = f.oid AND d.refobjid = s.oid)
                ORDER BY 1) AS tables
    FROM definers f
    JOIN pg_catalog.pg_namespace fn ON fn.oid = f.pronamespace
    JOIN pg_catalog.pg_language l ON l.oid = f.prolang
   WHERE fn.nspname NOT IN ('pg_catalog', 'information_schema')
), reached AS (
  -- Called: an ordinary function an application role can EXECUTE.
  SELECT f.oid, NULL::oid AS relid, string_agg(DISTINCT rc.app_name::text, ', ') AS roles
    FROM funcs f
    JOIN reach rc ON pg_catalog.has_function_privilege(rc.role_oid, f.oid, 'EXECUTE')
   WHERE f.prorettype NOT IN ('pg_catalog.trigger'::regtype, 'pg_catalog.event_trigger'::regtype)
     AND NOT pg_catalog.pg_has_role(rc.app_oid, f.proowner, 'USAGE')
   GROUP BY f.oid
  UNION ALL
  -- Fired: a trigger function on a table an application role can write (EXECUTE is not checked when a trigger fires).
  SELECT f.oid, tg.tgrelid, string_agg(DISTINCT rc.app_name::text, ', ')
    FROM funcs f
    JOIN pg_catalog.pg_trigger tg ON tg.tgfoid = f.oid AND NOT tg.tgisinternal AND tg.tgenabled <> 'D'
    JOIN reach rc ON pg_catalog.has_table_privilege(rc.role_oid, tg.tgrelid, 'INSERT, UPDATE, DELETE, TRUNCATE')
   WHERE NOT pg_catalog.pg_has_role(rc.app_oid, f.proowner, 'USAGE')
   GROUP BY f.oid, tg.tgrelid
)
SELECT CASE WHEN r.relid IS NULL THEN f.tables[1] ELSE (SELECT s.relname::text FROM scoped s WHERE s.oid = r.relid) END AS table_name,
       CASE WHEN r.relid IS NULL THEN f.signature ELSE format('%s on %s.%s', f.signature, rn.nspname, rel.relname) END AS object,
       NULL::bigint AS count, NULL::text[] AS samples,
       format('%s %s (owner %s%s) %s%s%s',
              CASE WHEN r.relid IS NULL THEN 'SECURITY DEFINER function' ELSE 'SECURITY DEFINER trigger function' END,
              f.signature, pg_catalog.pg_get_userbyid(f.proowner),
              CASE WHEN o.rolsuper OR o.rolbypassrls THEN ', who bypasses row-level security' ELSE '' END,
              CASE WHEN r.relid IS NULL THEN format('can be executed by %s', r.roles)
                   ELSE format('fires on writes to %s.%s, which %s can write', rn.nspname, rel.relname, r.roles) END,
              CASE WHEN f.dynamic THEN '; it runs dynamic SQL (EXECUTE): any table, whatever its body names'
                   WHEN cardinality(f.tables) > 0 THEN '; it touches ' || array_to_string(f.tables, ', ')
                   ELSE '' END,
              CASE WHEN f.listed AND NOT f.pinned THEN '; listed under definer_functions, but its search_path is not pinned'
                   WHEN f.listed THEN '; allowed by the manifest: ' || (:'definer_reasons'::text[])[array_position(:'definer_functions'::text[], f.proname::text)]
                   WHEN NOT f.pinned THEN '; not listed under definer_functions, and its search_path is not pinned'
                   ELSE '; not listed under definer_functions' END) AS message,
       CASE WHEN f.listed AND f.pinned THEN 'info' END AS severity
  FROM reached r
  JOIN funcs f ON f.oid = r.oid
  JOIN pg_catalog.pg_roles o ON o.oid = f.proowner
  LEFT JOIN pg_catalog.pg_class rel ON rel.oid = r.relid
  LEFT JOIN pg_catalog.pg_namespace rn ON rn.oid = rel.relnamespace
 ORDER BY 2;
