// Cross-tenant references through scoped FKs: counted, sampled, and detached with --detach-cross-tenant.
import type pg from 'pg';
import type { BackfillTablePlan, ScopedForeignKey } from './backfill-plan.js';
import { crossTenantCountSql, crossTenantRowsSql, detachBatchSql } from './backfill-sql.js';
import { DEFAULT_SAMPLE_LIMIT, type CrossTenantReference, type CrossTenantSample, type RunContext } from './backfill-types.js';
import { walkTable } from './batch-walker.js';
import { ensureProgress, readProgress, setProgress } from './progress-store.js';

export async function countCrossTenant(db: pg.ClientBase, t: BackfillTablePlan, fk: ScopedForeignKey): Promise<number> {
  const { rows } = await db.query<{ n: string }>(crossTenantCountSql(t, fk));
  return Number(rows[0].n);
}

/** Up to `limit` rows still pointing at another tenant's row, in key order. */
export async function crossTenantSamples(
  db: pg.ClientBase,
  t: BackfillTablePlan,
  fk: ScopedForeignKey,
  limit: number,
): Promise<CrossTenantSample[]> {
  const { rows } = await db.query(crossTenantRowsSql(t, fk), [limit]);
  return rows.map((r) => ({ key: r.key, value: r.value, tenant: r.tenant, parentTenant: r.parent_tenant }));
}

/** The report of one scoped FK: what a dry run found and would detach (or leave). */
export function crossTenantReference(
  t: BackfillTablePlan,
  fk: ScopedForeignKey,
  counts: { found: number; detached: number; remaining: number },
  samples: CrossTenantSample[],
): CrossTenantReference {
  return {
    table: t.table,
    column: fk.column,
    constraint: fk.constraint,
    references: fk.parentTable,
    nullable: fk.nullable,
    ...counts,
    samples,
  };
}

/**
 * One scoped FK of a table in a recorded run: with --detach-cross-tenant a nullable FK is walked in
 * batches that set cross-tenant values to NULL (recorded, resumable like the fill); then what is
 * left is counted and sampled.
 */
export async function crossTenantFor(ctx: RunContext, t: BackfillTablePlan, fk: ScopedForeignKey): Promise<CrossTenantReference> {
  const limit = ctx.options.sampleLimit ?? DEFAULT_SAMPLE_LIMIT;
  const phase = `detach:${fk.constraint}`;
  let detached = 0;
  let found: number;
  if (ctx.options.detachCrossTenant && fk.nullable) {
    let row = await ensureProgress(ctx, t, phase);
    // What an interrupted attempt of this run detached already counts as found.
    found = row.changed + (await countCrossTenant(ctx.client, t, fk));
    if (row.status !== 'done') {
      if (!row.passDone) {
        await walkTable(
          ctx,
          t,
          phase,
          row,
          (lower, upper) => detachBatchSql(t, fk, ctx.stateSchema, lower, upper),
          fk.column,
          async () => (await countCrossTenant(ctx.client, t, fk)) > 0,
        );
      }
      await setProgress(ctx.client, ctx, t, phase, `status = 'done'`, []);
      row = (await readProgress(ctx, t, phase))!;
    }
    detached = row.changed;
    if (detached > 0) ctx.logger.info(`${t.table}.${fk.column}: detached ${detached} cross-tenant reference(s)`);
  } else {
    found = await countCrossTenant(ctx.client, t, fk);
  }
  const remaining = await countCrossTenant(ctx.client, t, fk);
  const samples = remaining > 0 ? await crossTenantSamples(ctx.client, t, fk, limit) : [];
  return crossTenantReference(t, fk, { found: Math.max(found, remaining + detached), detached, remaining }, samples);
}
