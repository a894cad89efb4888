-- id: exempt-table-holds-tenant-data
-- title: An exempt table an application role can read looks like tenant data
-- severity: warning
-- kind: catalog
-- remediation: Scope the table (move it under `tables:`, with `shared_rows: true` if its NULL-tenant rows are shared by design, or `polymorphic:` for a `*_type`/`*_id` pair), or revoke the application roles' SELECT on it; if it really is shared, waive this finding with the reason.
--
-- `exempt:` takes a table out of the fence: no tenant column, no row-level security, no audit of its
-- rows. That is right for lookups (currencies, plans) and wrong for a table that holds tenant rows.
-- Reported: an exempt table an application role can read (SELECT on the table or on any of its
-- columns, directly, through PUBLIC or through a role it belongs to) that carries the tenant
-- column, a foreign key to the tenant table or to a scoped table, or a `<x>_type`/`<x>_id` column
-- pair (a polymorphic reference, the way change history and attachments point at tenant rows).
-- The finding quotes the exemption's reason, for the reviewer to weigh against the evidence.
WITH exempt AS (
  SELECT e.name, e.reason FROM unnest(:'exempt_tables'::text[], :'exempt_reasons'::text[]) AS e(name, reason)
), candidate AS (
  SELECT c.oid, c.relname::text AS table_name, e.reason,
         ARRAY(SELECT r.rolname::text FROM pg_catalog.pg_roles r
                WHERE r.rolname = ANY (:'app_roles'::text[]) AND pg_catalog.has_any_column_privilege(r.oid, c.oid, 'SELECT')
                ORDER BY 1) AS readers
    FROM exempt e
    JOIN pg_catalog.pg_class c ON c.relname = e.name AND c.relkind IN ('r', 'p')
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace AND n.nspname = :'schema'
), evidence AS (
  SELECT k.table_name, k.reason, k.readers,
         ARRAY_REMOVE(ARRAY[
           CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                              WHERE a.attrelid = k.oid AND a.attname = :'tenant_column' AND a.attnum > 0 AND NOT a.attisdropped)
                THEN format('has the tenant column %s', :'tenant_column') END,
           (SELECT 'references ' || string_agg(DISTINCT r.relname::text, ', ' ORDER BY r.relname::text)
              FROM pg_catalog.pg_constraint con
              JOIN pg_catalog.pg_class r ON r.oid = con.confrelid
              JOIN pg_catalog.pg_namespace rn ON rn.oid = r.relnamespace
             WHERE con.conrelid = k.oid AND con.contype = 'f' AND rn.nspname = :'schema'
               AND (r.relname = :'tenant_table' OR r.relname = ANY (:'scoped_tables'::text[]))),
           (SELECT 'has the polymorphic pair' || CASE WHEN count(*) > 1 THEN 's ' ELSE ' ' END
                   || string_agg(format('%s_type/%s_id', left(t.attname, -5), left(t.attname, -5)), ', ' ORDER BY t.attname)
              FROM pg_catalog.pg_attribute t
              JOIN pg_catalog.pg_attribute i ON i.attrelid = t.attrelid AND i.attname = left(t.attname, -5) || '_id'
                                            AND i.attnum > 0 AND NOT i.attisdropped
             WHERE t.attrelid = k.oid AND t.attname LIKE '%\_type' AND t.attnum > 0 AND NOT t.attisdropped AND length(t.attname) > 5)
         ], NULL) AS why
    FROM candidate k
   WHERE cardinality(k.readers) > 0
)
SELECT table_name, NULL::text AS object, NULL::bigint AS count, why AS samples,
       format('exempt table %s.%s (exempt: "%s") %s, and %s can read it: it looks like tenant data outside the fence',
              :'schema', table_name, reason, array_to_string(why, '; '), array_to_string(readers, ', ')) AS message,
       NULL::text AS severity
  FROM evidence
 WHERE cardinality(why) > 0
 ORDER BY 1;
