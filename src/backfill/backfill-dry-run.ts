// --dry-run: the whole backfill simulated in one rolled-back snapshot; nothing written anywhere.
import type pg from 'pg';
import { withRollback } from '../db/transaction.js';
import type { BackfillPlan } from './backfill-plan.js';
import { buildReport } from './backfill-report.js';
import { createDerivedTableSql, deriveIntoSql, deriveOrphansIntoSql, type DerivedTables } from './backfill-sql.js';
import { DEFAULT_SAMPLE_LIMIT, type BackfillOptions, type BackfillResult, type CrossTenantReference } from './backfill-types.js';
import { countCrossTenant, crossTenantReference, crossTenantSamples } from './cross-tenant.js';

/**
 * Simulates the whole run in one REPEATABLE READ snapshot, keeping would-be tenants in temporary
 * tables (dropped at the end): several hops, passes and orphan assignment come out exactly as the
 * real run would, and nothing is written to any real table or to the bookkeeping schema.
 */
export async function dryRunBackfill(client: pg.Client, plan: BackfillPlan, options: BackfillOptions): Promise<BackfillResult> {
  return withRollback(
    client,
    async (tx) => {
      const derived: DerivedTables = new Map();
      let i = 0;
      for (const group of plan.groups) {
        for (const t of group.tables) {
          const temp = `crm_tenancy_dry_${i++}`;
          await tx.query(createDerivedTableSql(temp, t));
          derived.set(t.table, { temp, key: t.key });
        }
      }
      const counts = await simulateFill(tx, plan, options, derived);
      const crossTenant = await simulateCrossTenant(tx, plan, options);
      return buildReport(tx, plan, options, crossTenant, {
        runId: null,
        resumed: false,
        derived,
        durations: new Map(),
        assigned: [],
        filled: async (t) => ({ ...counts.get(t.table)!, batches: 0 }),
      });
    },
    { isolation: 'REPEATABLE READ' },
  );
}

/** The fill, group by group, as whole-table passes into the temporary tables; counts per table. */
async function simulateFill(
  tx: pg.ClientBase,
  plan: BackfillPlan,
  options: BackfillOptions,
  derived: DerivedTables,
): Promise<Map<string, { filled: number; assigned: number; passes: number }>> {
  const counts = new Map<string, { filled: number; assigned: number; passes: number }>();
  for (const group of plan.groups) {
    for (const t of group.tables) counts.set(t.table, { filled: 0, assigned: 0, passes: 0 });
    for (;;) {
      let placed = 0;
      for (const t of group.tables) {
        const c = counts.get(t.table)!;
        c.passes++;
        if (t.sources.length === 0) continue;
        const res = await tx.query(deriveIntoSql(t, derived));
        c.filled += res.rowCount ?? 0;
        placed += res.rowCount ?? 0;
      }
      if (!group.cyclic || placed === 0) break;
    }
    if (options.assignOrphansTo !== undefined) {
      for (const t of group.tables) {
        const res = await tx.query(deriveOrphansIntoSql(t, derived), [options.assignOrphansTo]);
        counts.get(t.table)!.assigned += res.rowCount ?? 0;
      }
    }
  }
  return counts;
}

/** Cross-tenant references as they are now; with --detach-cross-tenant the nullable ones would go. */
async function simulateCrossTenant(tx: pg.ClientBase, plan: BackfillPlan, options: BackfillOptions): Promise<CrossTenantReference[]> {
  const limit = options.sampleLimit ?? DEFAULT_SAMPLE_LIMIT;
  const crossTenant: CrossTenantReference[] = [];
  for (const group of plan.groups) {
    for (const t of group.tables) {
      for (const fk of t.scopedForeignKeys) {
        const found = await countCrossTenant(tx, t, fk);
        const samples = found > 0 ? await crossTenantSamples(tx, t, fk, limit) : [];
        const detached = options.detachCrossTenant && fk.nullable ? found : 0;
        crossTenant.push(crossTenantReference(t, fk, { found, detached, remaining: found - detached }, samples));
      }
    }
  }
  return crossTenant;
}
