-- id: fk-not-tenant-scoped
-- title: Foreign key between scoped tables without the tenant column
-- severity: warning
-- kind: catalog
-- remediation: Set `tenant: { composite_keys: true }` in the manifest, then `crm-tenancy generate` and `crm-tenancy migrate`: (tenant, x_id) → (tenant, id) foreign keys replace it.
--
-- A foreign key from one scoped table to another that does not include the tenant column lets a
-- row of tenant A reference tenant B's row (FK checks ignore row-level security). Only a composite
-- key (tenant, x_id) REFERENCES parent (tenant, id) makes PostgreSQL forbid it (into a shared_rows
-- table, where no composite key fits, generate's reference triggers on both sides do). One finding per
-- table, listing its foreign keys (samples: the constraint names); waive it by table.
WITH fk AS (
  SELECT c.relname::text AS table_name, n.nspname::text AS schema_name, con.conname::text AS name, r.relname::text AS parent
    FROM pg_catalog.pg_constraint con
    JOIN pg_catalog.pg_class c ON c.oid = con.conrelid
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_catalog.pg_class r ON r.oid = con.confrelid
    JOIN pg_catalog.pg_namespace rn ON rn.oid = r.relnamespace
    LEFT JOIN pg_catalog.pg_attribute ca ON ca.attrelid = c.oid AND ca.attname = :'tenant_column' AND NOT ca.attisdropped
    LEFT JOIN pg_catalog.pg_attribute pa ON pa.attrelid = r.oid AND pa.attname = :'tenant_column' AND NOT pa.attisdropped
   WHERE con.contype = 'f' AND con.conparentid = 0
     AND n.nspname = :'schema' AND c.relname = ANY (:'scoped_tables'::text[]) AND c.relkind IN ('r', 'p')
     AND rn.nspname = :'schema' AND r.relname = ANY (:'scoped_tables'::text[])
     AND NOT EXISTS (SELECT 1 FROM generate_subscripts(con.conkey, 1) i
                      WHERE con.conkey[i] = ca.attnum AND con.confkey[i] = pa.attnum)
     -- A single-column key into a shared_rows table guarded by generate's reference triggers, both of
     -- them: on the child (a constraint trigger whose arguments are 'crm_tenancy.shared_ref' and the
     -- column) and on the parent ('crm_tenancy.shared_ref_parent', the child table, the column: a change
     -- of a referenced row's tenant), each enabled for ordinary sessions ('O' or 'A': not disabled, not
     -- replica-only) and calling the function migrate writes for it with migrate's body
     -- (:'shared_ref_functions' / :'shared_ref_bodies' for the child's, :'shared_ref_parent_functions' /
     -- :'shared_ref_parent_bodies' for the parent's, in :'schema'): tenant-safe.
     AND NOT (r.relname = ANY (:'shared_tables'::text[]) AND cardinality(con.conkey) = 1 AND EXISTS (
           SELECT 1 FROM pg_catalog.pg_trigger t
             JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = con.conkey[1]
             JOIN pg_catalog.pg_proc f ON f.oid = t.tgfoid
             JOIN pg_catalog.pg_namespace fn ON fn.oid = f.pronamespace
            WHERE t.tgrelid = c.oid AND t.tgconstraint <> 0 AND t.tgenabled IN ('O', 'A')
              AND t.tgargs = convert_to('crm_tenancy.shared_ref', 'UTF8') || '\x00'::bytea || convert_to(a.attname::text, 'UTF8') || '\x00'::bytea
              AND fn.nspname = :'schema'
              AND (f.proname::text, f.prosrc) IN (SELECT * FROM unnest(:'shared_ref_functions'::text[], :'shared_ref_bodies'::text[])))
         AND EXISTS (
           SELECT 1 FROM pg_catalog.pg_trigger t
             JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = con.conkey[1]
             JOIN pg_catalog.pg_proc f ON f.oid = t.tgfoid
             JOIN pg_catalog.pg_namespace fn ON fn.oid = f.pronamespace
            WHERE t.tgrelid = r.oid AND t.tgconstraint <> 0 AND t.tgenabled IN ('O', 'A')
              AND t.tgargs = convert_to('crm_tenancy.shared_ref_parent', 'UTF8') || '\x00'::bytea || convert_to(c.relname::text, 'UTF8') || '\x00'::bytea
                             || convert_to(a.attname::text, 'UTF8') || '\x00'::bytea
              AND fn.nspname = :'schema'
              AND (f.proname::text, f.prosrc) IN (SELECT * FROM unnest(:'shared_ref_parent_functions'::text[], :'shared_ref_parent_bodies'::text[]))))
)
SELECT table_name, NULL::text AS object, count(*)::bigint AS count, array_agg(name ORDER BY name) AS samples,
       format('%s foreign key%s on %s.%s reference%s scoped tables without %s (%s): a row can point at another tenant''s row',
              count(*), CASE WHEN count(*) > 1 THEN 's' ELSE '' END, schema_name, table_name,
              CASE WHEN count(*) > 1 THEN '' ELSE 's' END, :'tenant_column',
              string_agg(format('%s → %s', name, parent), ', ' ORDER BY name)) AS message,
       NULL::text AS severity
  FROM fk
 GROUP BY schema_name, table_name
 ORDER BY 1;
