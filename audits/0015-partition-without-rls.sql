-- id: partition-without-rls
-- title: Partition of a scoped table without row-level security
-- severity: error
-- kind: catalog
-- remediation: Re-run `crm-tenancy generate` and `crm-tenancy policies apply` (the policy file enables and forces row-level security on every partition and gives it the tenant policy); a partition created or attached later is secured at once by the event trigger `policies apply` installs (unless `tenant.partition_trigger: false`).
--
-- Policies on a partitioned table apply when the application queries the parent; a query on the
-- partition itself only sees the partition's own RLS settings and policies.
SELECT p.relname::text AS table_name, format('%s.%s', pn.nspname, c.relname) AS object, NULL::bigint AS count,
       NULL::text[] AS samples,
       format('partition %s.%s of %s.%s has %s', pn.nspname, c.relname, n.nspname, p.relname,
              CASE WHEN NOT c.relrowsecurity THEN 'no row-level security' ELSE 'row-level security but no policy' END) AS message,
       NULL::text AS severity
  FROM pg_catalog.pg_class p
  JOIN pg_catalog.pg_namespace n ON n.oid = p.relnamespace
  CROSS JOIN LATERAL pg_catalog.pg_partition_tree(p.oid) tree
  JOIN pg_catalog.pg_class c ON c.oid = tree.relid
  JOIN pg_catalog.pg_namespace pn ON pn.oid = c.relnamespace
 WHERE n.nspname = :'schema' AND p.relname = ANY (:'scoped_tables'::text[]) AND p.relkind = 'p'
   AND tree.level > 0
   AND (NOT c.relrowsecurity OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_policy pol WHERE pol.polrelid = c.oid))
 ORDER BY 1, 2;
