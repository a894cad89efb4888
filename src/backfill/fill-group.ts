// Fills one group of tables (a table, or tables in a cycle) in passes, then assigns its orphans when asked.
import { ident, qualified } from '../db/quote.js';
import type { RowKey } from '../db/table-keys.js';
import { retryTransaction, withTransaction } from '../db/transaction.js';
import type { BackfillTablePlan } from './backfill-plan.js';
import { assignOrphansSql, fillBatchSql } from './backfill-sql.js';
import { lockTimeoutOf, type RunContext } from './backfill-types.js';
import { walkTable } from './batch-walker.js';
import { walkPages } from './partition-walk.js';
import { ensureProgress, readProgress, setProgress, startPass, type ProgressRow } from './progress-store.js';

/** One group: passes until a pass places nothing (one pass unless cyclic), then its orphans. */
export async function fillGroup(ctx: RunContext, tables: BackfillTablePlan[], cyclic: boolean): Promise<void> {
  const rows = new Map<string, ProgressRow>();
  for (const t of tables) rows.set(t.table, await ensureProgress(ctx, t, 'fill'));
  if (tables.every((t) => rows.get(t.table)!.status === 'done')) return;

  for (;;) {
    // A kill between two tables of a cyclic group leaves them on different passes: catch up first.
    const round = Math.max(...tables.map((t) => rows.get(t.table)!.pass));
    for (const t of tables) {
      if (rows.get(t.table)!.pass < round) rows.set(t.table, await startPass(ctx, t, round));
    }
    for (const t of tables) {
      const row = rows.get(t.table)!;
      if (row.status === 'done' || row.passDone) continue;
      await (t.keyless ? walkPages : walkTable)(ctx, t, 'fill', row, (lower, upper) => fillBatchSql(t, ctx.stateSchema, lower, upper), t.tenantColumn, () =>
        hasNullTenant(ctx, t),
      );
      rows.set(t.table, (await readProgress(ctx, t, 'fill'))!);
    }
    const placed = tables.reduce((n, t) => n + rows.get(t.table)!.passChanged, 0);
    if (!cyclic || placed === 0) break;
    ctx.logger.debug(`${tables.map((t) => t.table).join(', ')}: pass ${round} placed ${placed}; another pass`);
    for (const t of tables) rows.set(t.table, await startPass(ctx, t, round + 1));
  }

  for (const t of tables) {
    if (rows.get(t.table)!.status === 'done') continue;
    await finishTable(ctx, t);
  }
}

/** Whether a walk of the table could place anything: it has sources and a NULL tenant. */
async function hasNullTenant(ctx: RunContext, t: BackfillTablePlan): Promise<boolean> {
  if (t.sources.length === 0) return false;
  const { rowCount } = await ctx.client.query(`SELECT 1 FROM ${qualified(t.schema, t.table)} WHERE ${ident(t.tenantColumn)} IS NULL LIMIT 1`);
  return (rowCount ?? 0) > 0;
}

/**
 * Assigns the table's orphans (with --assign-orphans-to) and marks the table done, in one
 * transaction: a kill before it commits assigns them again on resume, never twice.
 */
async function finishTable(ctx: RunContext, t: BackfillTablePlan): Promise<void> {
  const tenant = ctx.options.assignOrphansTo;
  const keys = await retryTransaction(
    () =>
      withTransaction(
        ctx.client,
        async (tx) => {
          let assigned: RowKey[] = [];
          if (tenant !== undefined) {
            const res = await tx.query<{ keys: RowKey[] }>(assignOrphansSql(t, ctx.stateSchema), [
              ctx.runId,
              t.schema,
              t.table,
              t.tenantColumn,
              tenant,
            ]);
            assigned = res.rows[0]?.keys ?? [];
          }
          await setProgress(tx, ctx, t, 'fill', `status = 'done'`, []);
          return assigned;
        },
        { lockTimeoutMs: lockTimeoutOf(ctx.options) },
      ),
    { logger: ctx.logger, label: `${t.table}: finish` },
  );
  // Reported only once committed: a retried attempt must not list its keys twice.
  for (const key of keys) {
    ctx.assigned.push({ table: t.table, key, tenant: tenant! });
    ctx.logger.info(`${t.table} ${JSON.stringify(key)}: orphan assigned to tenant ${tenant}`);
  }
}
