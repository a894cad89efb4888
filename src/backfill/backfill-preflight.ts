// The plan stage against the live database: which keyless tables need no fill, and tenant types that cannot meet.
import type pg from 'pg';
import type { LiveContext } from '../config/live-context.js';
import { findColumn, findRelation } from '../db/catalog.js';
import { ident, qualified } from '../db/quote.js';
import { withTransaction } from '../db/transaction.js';
import { TenancyError, isPgServerError } from '../errors.js';
import { buildBackfillPlan, type BackfillPlan } from './backfill-plan.js';

/**
 * The plan of a run, checked before anything changes (the dry run included): a table without a
 * primary key is left out when it has nothing to fill (it cannot be walked, but need not be), and
 * every tenant column must be comparable with the tenant column or key it is filled from or
 * checked against (exit 2 otherwise, naming both). Read-only, under `lockTimeoutMs`.
 */
export async function planBackfill(
  db: pg.ClientBase,
  live: LiveContext,
  options: { table?: string; lockTimeoutMs: number },
): Promise<BackfillPlan> {
  return withTransaction(
    db,
    async (tx) => {
      const skip = await keylessTablesWithNothingToFill(tx, live, options.table);
      const plan = buildBackfillPlan(live, options.table, skip);
      await checkTenantTypes(tx, plan);
      return plan;
    },
    { readOnly: true, lockTimeoutMs: options.lockTimeoutMs },
  );
}

/**
 * Scoped tables without a primary key whose tenant column is NOT NULL or holds no NULL: name →
 * why they are skipped. A keyless table that does hold NULL tenants is not listed: the plan walks
 * it by ctid pages, partition by partition (partition-walk.ts); `undo` refuses such a run.
 */
export async function keylessTablesWithNothingToFill(
  db: pg.ClientBase,
  live: LiveContext,
  onlyTable?: string,
): Promise<Map<string, string>> {
  const { manifest, catalog } = live;
  const column = manifest.tenant.column;
  const skip = new Map<string, string>();
  for (const entry of manifest.tables) {
    if (onlyTable !== undefined && entry.name !== onlyTable) continue;
    const rel = findRelation(catalog, manifest.schema, entry.name);
    const tenantColumn = rel && findColumn(rel, column);
    if (!rel || !tenantColumn || (rel.primaryKey?.length ?? 0) > 0) continue;
    const name = `${manifest.schema}.${entry.name}`;
    // Cross-tenant samples need a key too; the audit's cross-tenant-reference check still sees them.
    const also = 'its cross-tenant references are not checked here (the audit checks them)';
    if (tenantColumn.notNull) {
      skip.set(entry.name, `${name} has no primary key and ${column} is NOT NULL: nothing to fill; ${also}`);
      continue;
    }
    const { rows } = await db.query<{ any: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM ${qualified(manifest.schema, entry.name)} WHERE ${ident(column)} IS NULL) AS any`,
    );
    if (!rows[0].any) skip.set(entry.name, `${name} has no primary key and no NULL ${column}: nothing to fill; ${also}`);
  }
  return skip;
}

/**
 * Every pair of tenant columns the backfill compares or copies between must have types the server
 * can compare (`integer` and `bigint` can; `text` and `bigint` cannot, and would stop the run
 * midway with `operator does not exist`). Throws a `manifest-live` error naming every such pair.
 * Call inside a transaction: each probe runs under a savepoint.
 */
export async function checkTenantTypes(tx: pg.ClientBase, plan: BackfillPlan): Promise<void> {
  const problems: string[] = [];
  const seen = new Set<string>();
  const comparable = new Map<string, boolean>();
  const at = (table: string, column: string, type: string) => `${plan.schema}.${table}.${column} (${type})`;
  let firstFix: string | undefined;

  const check = async (table: string, column: string, type: string, other: string, otherColumn: string, otherType: string, how: string) => {
    if (type === otherType || seen.has(`${table}\u0000${other}`)) return;
    const pair = `${type}\u0000${otherType}`;
    if (!comparable.has(pair)) comparable.set(pair, await canCompare(tx, type, otherType));
    if (comparable.get(pair)) return;
    seen.add(`${table}\u0000${other}`);
    problems.push(`${at(table, column, type)} ${how} ${at(other, otherColumn, otherType)}: the types cannot be compared`);
    // The example fixes whichever of the two is not of the tenant key's type.
    const [fixTable, fixColumn] = type !== plan.tenantType ? [table, column] : [other, otherColumn];
    const c = ident(fixColumn);
    firstFix ??= `ALTER TABLE ${qualified(plan.schema, fixTable)} ALTER COLUMN ${c} TYPE ${plan.tenantType} USING ${c}::${plan.tenantType}`;
  };

  for (const group of plan.groups) {
    for (const t of group.tables) {
      for (const s of t.sources) {
        await check(t.table, t.tenantColumn, t.tenantType, s.parentTable, s.parentTenantColumn, s.parentTenantType, `is filled (through ${s.column}) from`);
      }
      for (const fk of t.scopedForeignKeys) {
        await check(t.table, t.tenantColumn, t.tenantType, fk.parentTable, fk.parentTenantColumn, fk.parentTenantType, `is compared (through ${fk.column}) with`);
      }
    }
  }
  if (problems.length === 0) return;
  throw new TenancyError(
    'manifest-live',
    problems.length === 1 ? problems[0] : `${problems.length} tenant columns cannot be compared with the column they are filled from or checked against`,
    {
      problems: problems.length === 1 ? [] : problems,
      hint: `give every tenant column the tenant key's type (${plan.tenantType}), e.g. ${firstFix}; nothing was changed`,
    },
  );
}

/** Whether `a <> b` resolves for these two types (asked of the server, so implicit casts count). */
async function canCompare(tx: pg.ClientBase, a: string, b: string): Promise<boolean> {
  // format_type() output is already quoted by the server; it is the same text the batch SQL casts to.
  await tx.query('SAVEPOINT crm_tenancy_type_probe');
  try {
    await tx.query(`SELECT NULL::${a} <> NULL::${b}`);
    return true;
  } catch (error) {
    if (isPgServerError(error) && error.code === '42883') return false; // undefined_function
    throw error;
  } finally {
    await tx.query('ROLLBACK TO SAVEPOINT crm_tenancy_type_probe');
  }
}
