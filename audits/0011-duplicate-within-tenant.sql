-- id: duplicate-within-tenant
-- title: Duplicates of a per-tenant unique key
-- severity: error
-- kind: data
-- remediation: Run `crm-tenancy dedupe --dry-run`, then `crm-tenancy dedupe` (keeps one row per group, re-points references, archives the rest; `crm-tenancy undo RUN_ID` restores them); then `crm-tenancy migrate` adds the unique index.
--
-- Data check, per `unique` column set and `singleton` of the manifest: groups of rows of one tenant
-- with the same key (NULL key values excluded, as a unique index would). Skipped when a valid
-- unique index on a subset of (tenant, key columns) already makes duplicates impossible (--deep
-- queries anyway: a corrupt index can hold duplicates).
-- Placeholders: {{table}} (alias t), {{tenant}}, {{group_by}} the tenant column and key columns,
-- {{group_keys}} the same columns of the grouped rows (alias g), {{not_null}} the key columns' IS
-- NOT NULL conditions. The sample keys are built for the duplicate groups only, not for every row
-- (jsonb_build_array over every row of a 1M-row table cost more than the grouping itself).
-- @query
SELECT count(*) AS groups, coalesce(sum(crm_tenancy_n - 1), 0) AS extra,
       (array_agg(jsonb_build_array({{group_keys}}) ORDER BY crm_tenancy_n DESC, jsonb_build_array({{group_keys}})::text))[1:5] AS samples
  FROM (SELECT {{group_by}}, count(*) AS crm_tenancy_n
          FROM {{table}} t
         WHERE {{not_null}}
         GROUP BY {{group_by}}
        HAVING count(*) > 1) g
