// The result of a backfill (real or dry): what is left NULL and why, per-table counts, batch timings.
import type pg from 'pg';
import type { BackfillPlan, BackfillTablePlan } from './backfill-plan.js';
import { remainingCountsSql, remainingRowsSql, type DerivedTables } from './backfill-sql.js';
import {
  DEFAULT_SAMPLE_LIMIT,
  type AssignedOrphan,
  type BackfillOptions,
  type BackfillResult,
  type BackfillTableResult,
  type CrossTenantReference,
  type HealthPauses,
  type UnplacedRow,
  noHealthPauses,
} from './backfill-types.js';
import { percentile } from './percentile.js';

/** What the run (or the dry run) did, for the report to read. */
export interface ReportSource {
  runId: string | null;
  resumed: boolean;
  filled: (t: BackfillTablePlan) => Promise<{ filled: number; assigned: number; passes: number; batches: number }>;
  durations: Map<string, number[]>;
  /** A dry run's simulated tenants: rows placed there count as filled, not as left. */
  derived?: DerivedTables;
  assigned: AssignedOrphan[];
  /** The run's pauses while the server was unhealthy (none for a dry run). */
  healthPauses?: HealthPauses;
}

export async function buildReport(
  db: pg.ClientBase,
  plan: BackfillPlan,
  options: BackfillOptions,
  crossTenant: CrossTenantReference[],
  source: ReportSource,
): Promise<BackfillResult> {
  const limit = options.sampleLimit ?? DEFAULT_SAMPLE_LIMIT;
  const tables: BackfillTableResult[] = [];
  const orphans: UnplacedRow[] = [];
  const conflicts: UnplacedRow[] = [];
  for (const group of plan.groups) {
    for (const t of group.tables) {
      const counts = (await db.query(remainingCountsSql(t, source.derived))).rows[0];
      const n = { orphans: Number(counts.orphans), conflicts: Number(counts.conflicts), pending: Number(counts.pending) };
      if (n.orphans > 0) {
        const { rows } = await db.query(remainingRowsSql(t, 'orphan', source.derived), [limit]);
        for (const r of rows) orphans.push({ table: t.table, key: r.key, candidates: r.candidates });
      }
      if (n.conflicts > 0) {
        const { rows } = await db.query(remainingRowsSql(t, 'conflict', source.derived), [limit]);
        for (const r of rows) conflicts.push({ table: t.table, key: r.key, candidates: r.candidates });
      }
      const progress = await source.filled(t);
      const all = [...source.durations.entries()].filter(([k]) => k.startsWith(`${t.table}\u0000`)).flatMap(([, v]) => v);
      tables.push({
        table: t.table,
        filled: progress.filled,
        assigned: progress.assigned,
        ...n,
        detached: crossTenant.filter((c) => c.table === t.table).reduce((s, c) => s + c.detached, 0),
        passes: progress.passes,
        batches: progress.batches,
        batchMs:
          all.length > 0
            ? { p50: round(percentile(all, 50)!), p99: round(percentile(all, 99)!), max: round(Math.max(...all)) }
            : null,
      });
    }
  }
  const nullsLeft = tables.some((t) => t.orphans + t.conflicts + t.pending > 0);
  const crossLeft = options.detachCrossTenant ? crossTenant.some((c) => c.remaining > 0) : false;
  return {
    runId: source.runId,
    dryRun: Boolean(options.dryRun),
    resumed: source.resumed,
    schema: plan.schema,
    tables,
    orphans,
    conflicts,
    assignedOrphans: source.assigned,
    crossTenant,
    ok: !nullsLeft && !crossLeft,
    missingTables: plan.missingTables,
    skippedTables: plan.skippedTables,
    healthPauses: source.healthPauses ?? noHealthPauses(),
  };
}

/** What runs.summary keeps of a result: the tables that changed or still need work. */
export function summaryOf(result: BackfillResult): Record<string, unknown> {
  return {
    ok: result.ok,
    tables: result.tables
      .filter((t) => t.filled + t.assigned + t.orphans + t.conflicts + t.pending + t.detached > 0)
      .map((t) => ({ table: t.table, filled: t.filled, assigned: t.assigned, orphans: t.orphans, conflicts: t.conflicts, detached: t.detached })),
    orphans: result.orphans.length,
    conflicts: result.conflicts.length,
    healthPauses: { pauses: result.healthPauses.pauses, pausedMs: result.healthPauses.pausedMs },
  };
}

const round = (n: number) => Math.round(n * 10) / 10;
