-- id: cross-tenant-reference
-- title: Rows referencing another tenant's row
-- severity: error
-- kind: data
-- remediation: Run `crm-tenancy backfill --detach-cross-tenant` (nullable FK columns set to NULL, recorded, undoable) or fix the rows by hand; then `tenant.composite_keys: true` and `crm-tenancy migrate` make PostgreSQL forbid it.
--
-- Data check, per foreign key from a scoped table to another scoped table: child rows whose tenant
-- differs from the referenced row's tenant (a Sunstone deal whose contact belongs to nadan). FK
-- and UNIQUE checks ignore row-level security, so PostgreSQL accepts these rows unless the FK
-- includes the tenant column. Skipped for a validated composite FK (tenant, x) → (tenant, key),
-- which makes such rows impossible (a proof: rows written with session_replication_role = replica
-- skip the FK trigger; --deep scans it anyway). A NOT VALID composite FK, and every composite FK
-- with --deep, is checked through its non-tenant columns (rows written before it was added).
--
-- One read per child table, not per FK: every FK of a child is a LEFT JOIN of the same scan
-- (src/audit/data-checks.ts, fuseScans, which adds the child's NULL and unknown-tenant counts), each
-- parent hashed once per child. When the referenced columns are not unique in the parent (a parent
-- keyed by (tenant, id) only), the join is to the parent grouped by those columns (@grouped_join: no
-- row multiplied), counting rows whose tenant is none of the referenced rows' tenants.
-- Direct lookup (src/audit/direct-lookup.ts): an integer FK into a unique integer key of a parent with
-- an integer tenant reads the parent's tenant from an array built once per query (positions
-- key - min + 1) instead of the join, when the run's probe of the parent says it pays (gap-free keys,
-- or a small span): @lookup_condition, {{looked_up}} the parent row's tenant (NULL when no row, as the
-- join's). Same counts and samples; about half the time per FK (measured in that file).
-- Placeholders: {{tenant}} the child's tenant column (the child is alias t), {{parent}} the
-- referenced table, {{p}} the join's alias, {{parent_tenant}} its tenant column, {{join}} the FK's
-- non-tenant column pairs, {{ref_columns}} the parent's side of them.
-- Samples: the keys of the first 5 bad rows in table order, aggregated in the pass that counts and
-- fetched by ctid (measured: a follow-up search from the first bad row walked 3.3M rows with one
-- index probe each, 10.5 s, when fewer than 5 bad rows existed).
-- Polymorphic pairs (`polymorphic:` in the manifest: payable_type/payable_id → invoices or
-- payment_requests by the type's value; no foreign key): one @pair_scan per pair, one @pair_join
-- and @pair_count per target (alias {{p}}, {{type_is}} the type test, {{match}} the key join, which
-- keeps the target's key index usable when the id column is text; {{ids}} the first 5 bad rows' ids,
-- {{bad}} the bad-row conditions of every target). Rows whose type names no target are counted by
-- @untyped_count ({{untyped}}) with up to five of those type values (t0). Both scans of a pair are
-- skipped when the pair's enforcing trigger exists and is enabled (not with --deep). So is a
-- single-column FK into a shared_rows table while migrate's two guard triggers (on the child and on the
-- shared_rows table) are enabled with migrate's functions (src/audit/shared-ref-proof.ts; its piece is
-- left out of the child's scan).
-- @fk_join
LEFT JOIN {{parent}} {{p}} ON {{join}}
-- @fk_condition
{{p}}.{{parent_tenant}} <> t.{{tenant}}
-- @lookup_condition
{{looked_up}} <> t.{{tenant}}
-- @grouped_join
LEFT JOIN (SELECT {{ref_columns}}, array_agg({{p}}.{{parent_tenant}}) FILTER (WHERE {{p}}.{{parent_tenant}} IS NOT NULL) AS crm_tenancy_tenants
             FROM {{parent}} {{p}} GROUP BY {{ref_columns}}) {{p}} ON {{join}}
-- @grouped_condition
NOT t.{{tenant}} = ANY ({{p}}.crm_tenancy_tenants)
-- @pair_scan
SELECT {{counts}}
  FROM {{table}} t
  {{joins}}
 WHERE {{bad}}
-- @pair_join
LEFT JOIN {{target}} {{p}} ON {{type_is}} AND {{match}}
-- @pair_condition
{{p}}.{{target_tenant}} <> t.{{tenant}}
-- @pair_count
count(*) FILTER (WHERE {{p}}.{{target_tenant}} <> t.{{tenant}}) AS c{{k}}, {{ids}} AS m{{k}}
-- @untyped_count
SELECT count(*) AS c0, {{ids}} AS m0,
       (array_agg(DISTINCT t.{{type}}::text ORDER BY t.{{type}}::text))[1:5] AS t0
  FROM {{table}} t
 WHERE {{untyped}}
