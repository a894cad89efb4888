// A run's progress per table and phase (backfill_progress), and what it assigned (backfill_changes).
import type pg from 'pg';
import { qualified } from '../db/quote.js';
import type { BackfillTablePlan } from './backfill-plan.js';
import type { RunContext } from './backfill-types.js';

/** One row of backfill_progress: where the walk of one table and phase stands. */
export interface ProgressRow {
  pass: number;
  lastKey: string[] | null;
  passDone: boolean;
  passChanged: number;
  changed: number;
  rowsDone: number;
  batches: number;
  status: 'running' | 'done';
}

type ProgressScope = Pick<RunContext, 'client' | 'stateSchema' | 'runId'>;

function progressTable(ctx: ProgressScope): string {
  return qualified(ctx.stateSchema, 'backfill_progress');
}

export async function readProgress(ctx: ProgressScope, t: BackfillTablePlan, phase: string): Promise<ProgressRow | undefined> {
  const { rows } = await ctx.client.query(
    `SELECT * FROM ${progressTable(ctx)} WHERE run_id = $1 AND table_schema = $2 AND table_name = $3 AND phase = $4`,
    [ctx.runId, t.schema, t.table, phase],
  );
  const r = rows[0];
  if (!r) return undefined;
  return {
    pass: r.pass,
    lastKey: r.last_key,
    passDone: r.pass_done,
    passChanged: Number(r.pass_changed),
    changed: Number(r.changed),
    rowsDone: Number(r.rows_done),
    batches: Number(r.batches),
    status: r.status,
  };
}

/** The progress row of a table and phase, created at its start when this run has none yet. */
export async function ensureProgress(ctx: ProgressScope, t: BackfillTablePlan, phase: string): Promise<ProgressRow> {
  await ctx.client.query(
    `INSERT INTO ${progressTable(ctx)} (run_id, table_schema, table_name, phase) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
    [ctx.runId, t.schema, t.table, phase],
  );
  return (await readProgress(ctx, t, phase))!;
}

/**
 * Updates one progress row with `sets` (parameters from $5 on). `db` may be the batch's transaction:
 * a batch and its progress commit together, so a kill never separates them.
 */
export async function setProgress(
  db: pg.ClientBase,
  ctx: ProgressScope,
  t: BackfillTablePlan,
  phase: string,
  sets: string,
  params: unknown[],
): Promise<void> {
  await db.query(
    `UPDATE ${progressTable(ctx)} SET ${sets}, updated_at = clock_timestamp()
      WHERE run_id = $1 AND table_schema = $2 AND table_name = $3 AND phase = $4`,
    [ctx.runId, t.schema, t.table, phase, ...params],
  );
}

/** Starts the next pass of a cyclic group's table: from the first key again, nothing changed yet. */
export async function startPass(ctx: ProgressScope, t: BackfillTablePlan, pass: number): Promise<ProgressRow> {
  await setProgress(ctx.client, ctx, t, 'fill', 'pass = $5, last_key = NULL, pass_done = false, pass_changed = 0, rows_done = 0', [pass]);
  return (await readProgress(ctx, t, 'fill'))!;
}

/** Rows of a table this run assigned with --assign-orphans-to (recorded as kind 'assign-orphan'). */
export async function assignedCount(ctx: ProgressScope, t: BackfillTablePlan): Promise<number> {
  const { rows } = await ctx.client.query<{ n: string }>(
    `SELECT coalesce(sum(rows), 0) AS n FROM ${qualified(ctx.stateSchema, 'backfill_changes')}
      WHERE run_id = $1 AND table_schema = $2 AND table_name = $3 AND column_name = $4 AND kind = 'assign-orphan'`,
    [ctx.runId, t.schema, t.table, t.tenantColumn],
  );
  return Number(rows[0].n);
}
