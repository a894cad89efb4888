-- id: missing-table
-- title: Scoped table does not exist
-- severity: error
-- kind: catalog
-- remediation: Create the table, or remove it from `tables:` in the manifest (a typo in the manifest is the usual cause).
--
-- A table listed under `tables:` that is not in the schema: everything the manifest promises about it is unchecked.
SELECT t AS table_name, NULL::text AS object, NULL::bigint AS count, NULL::text[] AS samples,
       format('table %s.%s is listed in the manifest but does not exist', :'schema', t) AS message,
       NULL::text AS severity
  FROM unnest(:'scoped_tables'::text[]) AS t
 WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                    WHERE n.nspname = :'schema' AND c.relname = t AND c.relkind IN ('r', 'p'))
 ORDER BY 1;
