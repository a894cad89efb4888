-- id: citus-key-without-tenant
-- title: Citus: a PRIMARY KEY, UNIQUE or EXCLUDE key of a table to distribute omits the tenant column
-- severity: error
-- kind: catalog
-- target: citus
-- remediation: A single-column primary key: `generate --target citus` swaps it for (tenant, key) in the distribute phase. Any other unique key: replace it with a per-tenant one (list its columns under `unique:` in the manifest, generate builds (tenant, columns) CONCURRENTLY) and drop the global one; an EXCLUDE constraint: add `<tenant column> WITH =` to it.
--
-- Citus enforces a unique key shard by shard, so create_distributed_table refuses a table with a
-- PRIMARY KEY, UNIQUE constraint, unique index (partial ones too) or EXCLUDE constraint that does
-- not hold the distribution column: the tenant column, or the tenant key on the tenant table
-- (`Distributed relations cannot have UNIQUE, EXCLUDE, or PRIMARY KEY constraints that do not
-- include the partition column`). Checked on the tables the distribute phase distributes: the
-- scoped tables, and the tenant table unless `tenant.reference: true`.
SELECT c.relname::text AS table_name, ic.relname::text AS object, NULL::bigint AS count, NULL::text[] AS samples,
       format('%s %s on %s.%s (%s) omits %s: create_distributed_table refuses the table%s',
              CASE con.contype WHEN 'p' THEN 'primary key' WHEN 'u' THEN 'unique constraint' WHEN 'x' THEN 'exclusion constraint' ELSE 'unique index' END,
              ic.relname, n.nspname, c.relname, pg_catalog.pg_get_indexdef(i.indexrelid, 0, true), d.col,
              CASE WHEN con.contype = 'p' AND i.indnkeyatts = 1 THEN ' (generate --target citus swaps it for (' || d.col || ', ' || (SELECT a.attname FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attnum = i.indkey[0]) || '))' ELSE '' END) AS message,
       NULL::text AS severity
  FROM pg_catalog.pg_index i
  JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
  JOIN pg_catalog.pg_class c ON c.oid = i.indrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 CROSS JOIN LATERAL (SELECT CASE WHEN c.relname = :'tenant_table' THEN :'tenant_key' ELSE :'tenant_column' END AS col) d
  LEFT JOIN pg_catalog.pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = c.oid AND con.contype IN ('p', 'u', 'x')
  LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attname = d.col AND NOT a.attisdropped
 WHERE n.nspname = :'schema' AND c.relname = ANY (:'distributed_tables'::text[]) AND c.relkind IN ('r', 'p')
   AND (i.indisunique OR con.contype = 'x')
   AND (a.attnum IS NULL OR NOT a.attnum = ANY ((i.indkey::int2[])[0:i.indnkeyatts - 1]))
 ORDER BY 1, 2;
