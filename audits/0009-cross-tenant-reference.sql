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
-- One query per referenced table, not per FK: every FK pointing at the same parent key is read in
-- one UNION ALL ({{branches}}, one @branch each, tagged k) and joined to one hash of the parent, so
-- a parent referenced by twenty FKs (users) is read and hashed once instead of twenty times. When
-- the referenced columns are not unique in the parent (a parent keyed by (tenant, id) only), the FK
-- gets its own @grouped query: the parent grouped by those columns (one hash join, no row
-- multiplied), counting rows whose tenant is none of the referenced rows' tenants.
-- Placeholders: {{table}} child (alias t), {{tenant}} its tenant column, {{parent}} the referenced
-- table (alias {{p}}), {{parent_tenant}} its tenant column, {{join}} the FK's non-tenant column
-- pairs, {{ref_columns}} the parent's side of them, {{key}} the child's primary key (t.ctid when it
-- has none); in @branch {{k}} the FK's tag and {{refs}} its columns as r1, r2, …; in @by_parent
-- {{counts}} one @count per FK and {{parent_join}} the parent's columns = s.r1, s.r2, ….
-- Samples: @count also returns the first bad row's ctid (min(tid), PostgreSQL 14+), and @sample
-- starts there (a TID range scan): the planner, which cannot know that `<>` matches few rows,
-- would otherwise probe the parent index for every row up to the first bad one (1.8 s measured
-- for 935,000 activities before their first bad contact; 12 ms from the ctid).
-- Polymorphic pairs (`polymorphic:` in the manifest: payable_type/payable_id → invoices or
-- payment_requests by the type's value; no foreign key): one @pair_scan per pair, one @pair_join
-- and @pair_count per target (alias {{p}}, {{type_is}} the type test, {{match}} the key join, which
-- keeps the target's key index usable when the id column is text), and @pair_sample from the first
-- bad row's ctid. Rows whose type names no target are counted by @untyped_count ({{untyped}}) with
-- up to five of those type values (t0), sampled by @untyped_sample. Both scans of a pair are skipped when
-- the pair's enforcing trigger exists and is enabled (not with --deep).
-- @branch
SELECT {{k}} AS k, {{refs}}, t.{{tenant}} AS tn, t.ctid AS id FROM {{table}} t
-- @by_parent
SELECT {{counts}}
  FROM ({{branches}}) s
  JOIN {{parent}} {{p}} ON {{parent_join}}
 WHERE {{p}}.{{parent_tenant}} <> s.tn
-- @count
count(*) FILTER (WHERE s.k = {{k}}) AS c{{k}}, min(s.id) FILTER (WHERE s.k = {{k}}) AS m{{k}}
-- @grouped
SELECT count(*) FILTER (WHERE NOT t.{{tenant}} = ANY ({{p}}.crm_tenancy_tenants)) AS c0
  FROM {{table}} t
  JOIN (SELECT {{ref_columns}}, array_agg({{p}}.{{parent_tenant}}) FILTER (WHERE {{p}}.{{parent_tenant}} IS NOT NULL) AS crm_tenancy_tenants
          FROM {{parent}} {{p}} GROUP BY {{ref_columns}}) {{p}} ON {{join}}
-- @sample
SELECT {{key}} AS k FROM {{table}} t JOIN {{parent}} {{p}} ON {{join}}
 WHERE t.ctid >= $1::tid AND {{p}}.{{parent_tenant}} <> t.{{tenant}}
 LIMIT 5
-- @groupsample
SELECT {{key}} AS k FROM {{table}} t
 WHERE EXISTS (SELECT 1 FROM {{parent}} {{p}} WHERE {{join}} AND {{p}}.{{parent_tenant}} <> t.{{tenant}})
   AND NOT EXISTS (SELECT 1 FROM {{parent}} {{p}} WHERE {{join}} AND {{p}}.{{parent_tenant}} = t.{{tenant}})
 LIMIT 5
-- @pair_scan
SELECT {{counts}}
  FROM {{table}} t
  {{joins}}
-- @pair_join
LEFT JOIN {{target}} {{p}} ON {{type_is}} AND {{match}}
-- @pair_count
count(*) FILTER (WHERE {{p}}.{{target_tenant}} <> t.{{tenant}}) AS c{{k}},
       min(t.ctid) FILTER (WHERE {{p}}.{{target_tenant}} <> t.{{tenant}}) AS m{{k}}
-- @pair_sample
SELECT {{key}} AS k FROM {{table}} t JOIN {{target}} {{p}} ON {{type_is}} AND {{match}}
 WHERE t.ctid >= $1::tid AND {{p}}.{{target_tenant}} <> t.{{tenant}}
 LIMIT 5
-- @untyped_count
SELECT count(*) AS c0, min(t.ctid) AS m0,
       (array_agg(DISTINCT t.{{type}}::text ORDER BY t.{{type}}::text))[1:5] AS t0
  FROM {{table}} t
 WHERE {{untyped}}
-- @untyped_sample
SELECT {{key}} AS k FROM {{table}} t
 WHERE t.ctid >= $1::tid AND {{untyped}}
 LIMIT 5
