-- id: citus-fk-without-tenant
-- title: Citus: a foreign key between tables to distribute does not pair their tenant columns
-- severity: error
-- kind: catalog
-- target: citus
-- remediation: Set `tenant.composite_keys: true` in the manifest and run generate: each foreign key between scoped tables becomes (tenant, column) → (tenant, key). A foreign key to the tenant table must be on the tenant column itself.
--
-- Citus checks a foreign key between distributed tables on one shard at a time, so it accepts one
-- only when the tables are co-located and the key maps the referencing table's distribution column
-- onto the referenced table's: `(company_id, contact_id) REFERENCES contacts (company_id, id)`, or
-- `company_id REFERENCES companies (id)` when the tenant table is distributed by its key. A
-- single-column `contact_id REFERENCES contacts (id)` could point at a row on another node:
-- create_distributed_table refuses it.
WITH dist AS (
  SELECT c.oid, c.relname, a.attnum
    FROM pg_catalog.pg_class c
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND NOT a.attisdropped
     AND a.attname = CASE WHEN c.relname = :'tenant_table' THEN :'tenant_key' ELSE :'tenant_column' END
   WHERE n.nspname = :'schema' AND c.relname = ANY (:'distributed_tables'::text[]) AND c.relkind IN ('r', 'p')
)
SELECT child.relname::text AS table_name, fk.conname::text AS object, NULL::bigint AS count, NULL::text[] AS samples,
       format('foreign key %s on %s (%s) does not map its %s onto %s.%s: Citus refuses a foreign key between distributed tables that does not include the distribution column on both sides',
              fk.conname, child.relname, pg_catalog.pg_get_constraintdef(fk.oid, true),
              (SELECT a.attname FROM pg_catalog.pg_attribute a WHERE a.attrelid = child.oid AND a.attnum = child.attnum),
              parent.relname, (SELECT a.attname FROM pg_catalog.pg_attribute a WHERE a.attrelid = parent.oid AND a.attnum = parent.attnum)) AS message,
       NULL::text AS severity
  FROM pg_catalog.pg_constraint fk
  JOIN dist child ON child.oid = fk.conrelid
  JOIN dist parent ON parent.oid = fk.confrelid
 WHERE fk.contype = 'f'
   AND NOT EXISTS (SELECT 1 FROM generate_subscripts(fk.conkey, 1) k
                    WHERE fk.conkey[k] = child.attnum AND fk.confkey[k] = parent.attnum)
 ORDER BY 1, 2;
