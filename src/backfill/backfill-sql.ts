// The SQL of a backfill, as pure functions of the plan: candidate tenants, batch fill, reports, detach.
import { ident, qualified } from '../db/quote.js';
import type { BackfillTablePlan, ScopedForeignKey } from './backfill-plan.js';
import { keyAsText, keyJson, keyOrder, keyParams, keyTuple, type KeyColumn } from '../db/table-keys.js';
import { sourceJoin } from './polymorphic-fill.js';

/**
 * Dry runs keep the tenants they would write in temporary tables (never in the real ones); these
 * are consulted wherever a parent's tenant is read, so several hops are simulated exactly.
 */
export type DerivedTables = Map<string, { temp: string; key: KeyColumn[] }>;

interface Sources {
  joins: string;
  exprs: string[];
}

/** LEFT JOINs to every source parent, and per source the expression giving that parent's tenant. */
export function sourceExpressions(plan: BackfillTablePlan, derived?: DerivedTables): Sources {
  const joins: string[] = [];
  const exprs: string[] = [];
  plan.sources.forEach((s, i) => {
    const cast = (e: string) => (s.parentTenantType === plan.tenantType ? e : `(${e})::${plan.tenantType}`);
    if (s.parentIsTenantTable && s.parentColumn === s.parentTenantColumn && !s.polymorphic) {
      // An FK straight to the tenant key: the value is the tenant.
      exprs.push(cast(`t.${ident(s.column)}`));
      return;
    }
    const p = `p${i}`;
    joins.push(`LEFT JOIN ${qualified(plan.schema, s.parentTable)} ${p} ON ${sourceJoin(s, p)}`);
    const d = derived?.get(s.parentTable);
    if (d && !s.parentIsTenantTable) {
      const dp = `dp${i}`;
      joins.push(
        `LEFT JOIN ${ident(d.temp)} ${dp} ON (${d.key.map((_, j) => `${dp}.k${j}`).join(', ')}) = ${keyTuple(p, d.key)}`,
      );
      exprs.push(cast(`COALESCE(${p}.${ident(s.parentTenantColumn)}, ${dp}.v)`));
    } else {
      exprs.push(cast(`${p}.${ident(s.parentTenantColumn)}`));
    }
  });
  return { joins: joins.join('\n    '), exprs };
}

/** The single candidate when sources agree (NULL when none can place the row). */
function valueExpr(plan: BackfillTablePlan, exprs: string[]): string {
  if (exprs.length === 0) return `NULL::${plan.tenantType}`;
  return exprs.length === 1 ? exprs[0] : `COALESCE(${exprs.join(', ')})`;
}

/** True when two available sources disagree. */
function conflictExpr(exprs: string[]): string {
  const pairs: string[] = [];
  for (let i = 0; i < exprs.length; i++) for (let j = i + 1; j < exprs.length; j++) pairs.push(`${exprs[i]} <> ${exprs[j]}`);
  return pairs.length === 0 ? 'false' : `COALESCE(${pairs.join(' OR ')}, false)`;
}

/** Every distinct tenant the sources offer, sorted. */
function candidatesExpr(plan: BackfillTablePlan, exprs: string[]): string {
  if (exprs.length === 0) return `ARRAY[]::${plan.tenantType}[]`;
  return `ARRAY(SELECT DISTINCT x FROM unnest(ARRAY[${exprs.join(', ')}]::${plan.tenantType}[]) x WHERE x IS NOT NULL ORDER BY 1)`;
}

/** `t.c IS NULL`, and in a dry run: not already placed in the simulation. */
function stillNull(plan: BackfillTablePlan, derived?: DerivedTables): string {
  const own = derived?.get(plan.table);
  const base = `t.${ident(plan.tenantColumn)} IS NULL`;
  if (!own) return base;
  return `${base} AND NOT EXISTS (SELECT 1 FROM ${ident(own.temp)} d WHERE (${own.key.map((_, j) => `d.k${j}`).join(', ')}) = ${keyTuple('t', plan.key)})`;
}

function keyColumnsAs(alias: string, key: KeyColumn[]): string {
  return key.map((k, i) => `${alias}.${ident(k.name)} AS k${i}`).join(', ');
}

function srcKeyTuple(key: KeyColumn[]): string {
  return `(${key.map((_, i) => `src.k${i}`).join(', ')})`;
}

/**
 * Records the rows a data-modifying CTE `upd` (columns key, new_value / old_value) changed as one
 * bookkeeping row: aligned jsonb arrays. Returns `rows` (nothing when no row changed).
 */
function recordChanges(stateSchema: string, kind: string, oldValues: string, newValues: string): string {
  return `INSERT INTO ${qualified(stateSchema, 'backfill_changes')} (run_id, table_schema, table_name, column_name, kind, rows, keys, old_values, new_values)
SELECT $1, $2, $3, $4, '${kind}', count(*), jsonb_agg(key), ${oldValues}, ${newValues} FROM upd HAVING count(*) > 0
RETURNING rows`;
}

/** Key range of one batch: `(t.k) > lower AND (t.k) <= upper`, parameters numbered from `first`. */
export function rangeCondition(key: KeyColumn[], lower: boolean, upper: boolean, first: number): string {
  const parts: string[] = [];
  let n = first;
  if (lower) {
    parts.push(`${keyTuple('t', key)} > ${keyParams(key, n)}`);
    n += key.length;
  }
  if (upper) parts.push(`${keyTuple('t', key)} <= ${keyParams(key, n)}`);
  return parts.length ? parts.join(' AND ') : 'true';
}

/**
 * The end of the next batch: the key `n` rows after `lower` (params: $1 = n - 1, then the lower key).
 * No row means the batch runs to the end of the table.
 */
export function batchUpperBoundSql(schema: string, table: string, key: KeyColumn[], lower: boolean): string {
  return `SELECT ${keyAsText('t', key)} FROM ${qualified(schema, table)} t
   WHERE ${rangeCondition(key, lower, false, 2)}
   ORDER BY ${keyOrder('t', key)} OFFSET $1 LIMIT 1`;
}

/**
 * One batch of a backfill: fills NULL tenants in the key range whose sources agree, and records each
 * change. Params: $1 run id, $2 schema, $3 table, $4 column, then lower and upper keys (as text).
 * `t.c IS NULL` is checked again by the UPDATE itself, so a concurrent application write wins.
 */
export function fillBatchSql(plan: BackfillTablePlan, stateSchema: string, lower: boolean, upper: boolean): string {
  if (plan.sources.length === 1) return fillBatchSingleSourceSql(plan, stateSchema, lower, upper);
  const { joins, exprs } = sourceExpressions(plan);
  const c = ident(plan.tenantColumn);
  return `WITH src AS MATERIALIZED (
  SELECT ${keyColumnsAs('t', plan.key)}, ${valueExpr(plan, exprs)} AS v, ${conflictExpr(exprs)} AS conflict
    FROM ${qualified(plan.schema, plan.table)} t
    ${joins}
   WHERE t.${c} IS NULL AND ${rangeCondition(plan.key, lower, upper, 5)}
), upd AS (
  UPDATE ${qualified(plan.schema, plan.table)} t SET ${c} = src.v
    FROM src
   WHERE ${keyTuple('t', plan.key)} = ${srcKeyTuple(plan.key)} AND t.${c} IS NULL AND src.v IS NOT NULL AND NOT src.conflict
  RETURNING ${keyJson('t', plan.key)} AS key, to_jsonb(t.${c}) AS new_value
)
${recordChanges(stateSchema, 'fill', 'NULL', 'jsonb_agg(new_value)')}`;
}

/**
 * The common case, one source: a plain UPDATE … FROM parent (no self-join on the key), about a
 * fifth cheaper per row. Rows without a parent or whose parent has no tenant are not matched.
 */
function fillBatchSingleSourceSql(plan: BackfillTablePlan, stateSchema: string, lower: boolean, upper: boolean): string {
  const s = plan.sources[0];
  const c = ident(plan.tenantColumn);
  const cast = (e: string) => (s.parentTenantType === plan.tenantType ? e : `(${e})::${plan.tenantType}`);
  const direct = s.parentIsTenantTable && s.parentColumn === s.parentTenantColumn && !s.polymorphic;
  const value = direct ? cast(`t.${ident(s.column)}`) : cast(`p.${ident(s.parentTenantColumn)}`);
  const from = direct ? '' : `\n    FROM ${qualified(plan.schema, s.parentTable)} p`;
  const join = direct
    ? `t.${ident(s.column)} IS NOT NULL`
    : `${sourceJoin(s, 'p')} AND p.${ident(s.parentTenantColumn)} IS NOT NULL`;
  return `WITH upd AS (
  UPDATE ${qualified(plan.schema, plan.table)} t SET ${c} = ${value}${from}
   WHERE ${join} AND t.${c} IS NULL AND ${rangeCondition(plan.key, lower, upper, 5)}
  RETURNING ${keyJson('t', plan.key)} AS key, to_jsonb(t.${c}) AS new_value
)
${recordChanges(stateSchema, 'fill', 'NULL', 'jsonb_agg(new_value)')}`;
}

/**
 * Assigns the rows no source can place to one tenant ($5), recording each. Same params as the fill
 * batch; returns the keys it changed.
 */
export function assignOrphansSql(plan: BackfillTablePlan, stateSchema: string): string {
  const { joins, exprs } = sourceExpressions(plan);
  const c = ident(plan.tenantColumn);
  return `WITH src AS MATERIALIZED (
  SELECT ${keyColumnsAs('t', plan.key)}, ${valueExpr(plan, exprs)} AS v
    FROM ${qualified(plan.schema, plan.table)} t
    ${joins}
   WHERE t.${c} IS NULL
), upd AS (
  UPDATE ${qualified(plan.schema, plan.table)} t SET ${c} = $5::${plan.tenantType}
    FROM src
   WHERE ${keyTuple('t', plan.key)} = ${srcKeyTuple(plan.key)} AND t.${c} IS NULL AND src.v IS NULL
  RETURNING ${keyJson('t', plan.key)} AS key, to_jsonb(t.${c}) AS new_value
)
${recordChanges(stateSchema, 'assign-orphan', 'NULL', 'jsonb_agg(new_value)')}, keys`;
}

/** Dry run: the temporary table holding simulated tenants of one table. */
export function createDerivedTableSql(temp: string, plan: BackfillTablePlan): string {
  const cols = plan.key.map((k, i) => `k${i} ${k.type}`).join(', ');
  return `CREATE TEMPORARY TABLE ${ident(temp)} (${cols}, v ${plan.tenantType}, PRIMARY KEY (${plan.key.map((_, i) => `k${i}`).join(', ')})) ON COMMIT DROP`;
}

/** Dry run: one whole-table pass of the fill, into the temporary table. */
export function deriveIntoSql(plan: BackfillTablePlan, derived: DerivedTables): string {
  const own = derived.get(plan.table)!;
  const { joins, exprs } = sourceExpressions(plan, derived);
  const ks = plan.key.map((_, i) => `k${i}`).join(', ');
  return `INSERT INTO ${ident(own.temp)} (${ks}, v)
SELECT ${ks}, v FROM (
  SELECT ${keyColumnsAs('t', plan.key)}, ${valueExpr(plan, exprs)} AS v, ${conflictExpr(exprs)} AS conflict
    FROM ${qualified(plan.schema, plan.table)} t
    ${joins}
   WHERE ${stillNull(plan, derived)}
) s WHERE v IS NOT NULL AND NOT conflict`;
}

/** Dry run: what --assign-orphans-to would do ($1 = the tenant). */
export function deriveOrphansIntoSql(plan: BackfillTablePlan, derived: DerivedTables): string {
  const own = derived.get(plan.table)!;
  const { joins, exprs } = sourceExpressions(plan, derived);
  const ks = plan.key.map((_, i) => `k${i}`).join(', ');
  return `INSERT INTO ${ident(own.temp)} (${ks}, v)
SELECT ${ks}, $1::${plan.tenantType} FROM (
  SELECT ${keyColumnsAs('t', plan.key)}, ${valueExpr(plan, exprs)} AS v
    FROM ${qualified(plan.schema, plan.table)} t
    ${joins}
   WHERE ${stillNull(plan, derived)}
) s WHERE v IS NULL`;
}

/** Rows still without a tenant, counted by how many candidates their sources offer. */
export function remainingCountsSql(plan: BackfillTablePlan, derived?: DerivedTables): string {
  const { joins, exprs } = sourceExpressions(plan, derived);
  return `SELECT count(*) FILTER (WHERE n = 0)::int8 AS orphans,
       count(*) FILTER (WHERE n > 1)::int8 AS conflicts,
       count(*) FILTER (WHERE n = 1)::int8 AS pending
  FROM (SELECT cardinality(${candidatesExpr(plan, exprs)}) AS n
          FROM ${qualified(plan.schema, plan.table)} t
          ${joins}
         WHERE ${stillNull(plan, derived)}) s`;
}

/** Up to $1 rows still without a tenant of one kind (orphans: no candidate; conflicts: several). */
export function remainingRowsSql(plan: BackfillTablePlan, kind: 'orphan' | 'conflict', derived?: DerivedTables): string {
  const { joins, exprs } = sourceExpressions(plan, derived);
  return `SELECT key, candidates FROM (
  SELECT ${keyJson('t', plan.key)} AS key, to_jsonb(${candidatesExpr(plan, exprs)}) AS candidates,
         ${keyColumnsAs('t', plan.key)}, cardinality(${candidatesExpr(plan, exprs)}) AS n
    FROM ${qualified(plan.schema, plan.table)} t
    ${joins}
   WHERE ${stillNull(plan, derived)}
) s WHERE ${kind === 'orphan' ? 'n = 0' : 'n > 1'}
 ORDER BY ${plan.key.map((_, i) => `k${i}`).join(', ')}
 LIMIT $1`;
}

/** Rows whose tenant differs from the tenant of the row their FK points at. */
export function crossTenantCountSql(plan: BackfillTablePlan, fk: ScopedForeignKey): string {
  return `SELECT count(*)::int8 AS n
  FROM ${qualified(plan.schema, fk.table)} t
  JOIN ${qualified(plan.schema, fk.parentTable)} p ON p.${ident(fk.parentColumn)} = t.${ident(fk.column)}
 WHERE t.${ident(plan.tenantColumn)} <> p.${ident(fk.parentTenantColumn)}`;
}

/** Up to $1 cross-tenant rows: key, the FK value, the row's tenant and the parent's. */
export function crossTenantRowsSql(plan: BackfillTablePlan, fk: ScopedForeignKey): string {
  return `SELECT ${keyJson('t', plan.key)} AS key, to_jsonb(t.${ident(fk.column)}) AS value,
       to_jsonb(t.${ident(plan.tenantColumn)}) AS tenant, to_jsonb(p.${ident(fk.parentTenantColumn)}) AS parent_tenant
  FROM ${qualified(plan.schema, fk.table)} t
  JOIN ${qualified(plan.schema, fk.parentTable)} p ON p.${ident(fk.parentColumn)} = t.${ident(fk.column)}
 WHERE t.${ident(plan.tenantColumn)} <> p.${ident(fk.parentTenantColumn)}
 ORDER BY ${keyOrder('t', plan.key)}
 LIMIT $1`;
}

/**
 * One batch of --detach-cross-tenant: sets a nullable FK to NULL where the row's tenant differs from
 * its parent's, recording the old value. Params as fillBatchSql ($4 = the FK column).
 */
export function detachBatchSql(plan: BackfillTablePlan, fk: ScopedForeignKey, stateSchema: string, lower: boolean, upper: boolean): string {
  const f = ident(fk.column);
  return `WITH src AS MATERIALIZED (
  SELECT ${keyColumnsAs('t', plan.key)}, t.${f} AS old
    FROM ${qualified(plan.schema, fk.table)} t
    JOIN ${qualified(plan.schema, fk.parentTable)} p ON p.${ident(fk.parentColumn)} = t.${f}
   WHERE t.${ident(plan.tenantColumn)} <> p.${ident(fk.parentTenantColumn)} AND ${rangeCondition(plan.key, lower, upper, 5)}
), upd AS (
  UPDATE ${qualified(plan.schema, fk.table)} t SET ${f} = NULL
    FROM src
   WHERE ${keyTuple('t', plan.key)} = ${srcKeyTuple(plan.key)} AND t.${f} = src.old
  RETURNING ${keyJson('t', plan.key)} AS key, to_jsonb(src.old) AS old_value
)
${recordChanges(stateSchema, 'detach', 'jsonb_agg(old_value)', 'NULL')}`;
}
