// runBackfill: derives NULL tenants along FK columns in short keyset batches; resumable, recorded, undoable.
import { performance } from 'node:perf_hooks';
import type pg from 'pg';
import type { Manifest } from '../config/manifest.js';
import { resolveLiveContext } from '../config/live-context.js';
import { connect } from '../db/connection.js';
import { ident, qualified } from '../db/quote.js';
import { sleep, withRollback, withTransaction } from '../db/transaction.js';
import { TenancyError, isPgServerError } from '../errors.js';
import type { Logger, ProgressListener } from '../logger.js';
import { silentLogger } from '../logger.js';
import { ensureStateSchema } from '../state/state-schema.js';
import { finishRun, startRun } from '../state/runs.js';
import { buildBackfillPlan, type BackfillPlan, type BackfillTablePlan, type ScopedForeignKey } from './backfill-plan.js';
import {
  assignOrphansSql,
  batchUpperBoundSql,
  createDerivedTableSql,
  crossTenantCountSql,
  crossTenantRowsSql,
  deriveIntoSql,
  deriveOrphansIntoSql,
  detachBatchSql,
  fillBatchSql,
  remainingCountsSql,
  remainingRowsSql,
  type DerivedTables,
} from './backfill-sql.js';
import { acquireDataLock } from '../state/locks.js';
import { retryTransaction } from '../db/transaction.js';
import { withClient } from '../db/connection.js';
import { percentile } from './percentile.js';
import type { RowKey } from '../db/table-keys.js';

export const DEFAULT_BATCH_SIZE = 1000;
export const DEFAULT_TARGET_BATCH_MS = 200;
export const DEFAULT_LOCK_TIMEOUT_MS = 500;
const MIN_BATCH = 10;
const MAX_BATCH = 100_000;

export interface BackfillOptions {
  databaseUrl?: string;
  /** Use this connection instead of opening one (it is not closed). */
  client?: pg.Client;
  manifest: Manifest;
  /** Only this scoped table. */
  table?: string;
  /** Report what would change; writes nothing (not even bookkeeping). */
  dryRun?: boolean;
  /** First batch size (rows of primary key per batch), default 1000. */
  batchSize?: number;
  /** Batch duration the size adapts toward, default 200 ms; 0 keeps the size fixed. */
  targetBatchMs?: number;
  /** Pause between batches, default 0. */
  sleepMs?: number;
  /** lock_timeout of each batch, default 500 ms (retried on 55P03). */
  lockTimeoutMs?: number;
  /** Assign rows no source can place to this tenant (each logged and recorded). */
  assignOrphansTo?: string;
  /** Set nullable FKs pointing at another tenant's row to NULL (recorded, undoable). */
  detachCrossTenant?: boolean;
  /**
   * Batches of one table run on this many connections at once, on disjoint key ranges (default 1).
   * Each batch stays as short as with one; on 2 cores 2 jobs measured 1.8× the rows per second.
   * Needs `databaseUrl` (or the environment) to open the extra connections: with only `client`, 1.
   */
  jobs?: number;
  /** Wait for the WAL flush of every batch (default off: a lost batch is redone on resume). */
  synchronousCommit?: boolean;
  /** Most orphans / conflicts / cross-tenant rows listed per table (counts are always complete), default 1000. */
  sampleLimit?: number;
  logger?: Logger;
  onProgress?: ProgressListener;
  /** Called after every committed batch (benchmarks). */
  onBatch?: (event: BatchEvent) => void;
}

export interface BatchEvent {
  table: string;
  phase: string;
  rows: number;
  changed: number;
  ms: number;
  batchSize: number;
}

/** A row left without a tenant: its key and the distinct tenants its sources offer. */
export interface UnplacedRow {
  table: string;
  key: RowKey;
  candidates: unknown[];
}

/** A child row pointing at another tenant's row through a scoped FK. */
export interface CrossTenantReference {
  table: string;
  column: string;
  constraint: string;
  references: string;
  nullable: boolean;
  /** Found before detaching (or now, without --detach-cross-tenant). */
  found: number;
  /** Set to NULL by this run. */
  detached: number;
  /** Still pointing across tenants (NOT NULL columns, or without --detach-cross-tenant). */
  remaining: number;
  samples: { key: RowKey; value: unknown; tenant: unknown; parentTenant: unknown }[];
}

export interface BackfillTableResult {
  table: string;
  /** Rows whose tenant this run derived (dry run: would derive). */
  filled: number;
  /** Orphans assigned with --assign-orphans-to. */
  assigned: number;
  orphans: number;
  conflicts: number;
  /** Still NULL although one source could place them now (a parent filled after the row was visited). */
  pending: number;
  detached: number;
  passes: number;
  batches: number;
  batchMs: { p50: number; p99: number; max: number } | null;
}

export interface BackfillResult {
  /** null for a dry run (nothing recorded). */
  runId: string | null;
  dryRun: boolean;
  /** This run continued an interrupted one. */
  resumed: boolean;
  schema: string;
  tables: BackfillTableResult[];
  orphans: UnplacedRow[];
  conflicts: UnplacedRow[];
  /** Orphans this run assigned with --assign-orphans-to (also logged one by one). */
  assignedOrphans: { table: string; key: RowKey; tenant: string }[];
  crossTenant: CrossTenantReference[];
  /** Every NULL tenant filled (and, with --detach-cross-tenant, no cross-tenant reference left). */
  complete: boolean;
  missingTables: string[];
}

interface ProgressRow {
  pass: number;
  lastKey: string[] | null;
  passDone: boolean;
  passChanged: number;
  changed: number;
  rowsDone: number;
  batches: number;
  status: 'running' | 'done';
}

interface Ctx {
  client: pg.Client;
  /** Extra connections for --jobs > 1 (the batches of one table are spread over client + these). */
  workers: pg.Client[];
  stateSchema: string;
  runId: string;
  options: BackfillOptions;
  logger: Logger;
  batchSize: number;
  durations: Map<string, number[]>;
  assigned: { table: string; key: RowKey; tenant: string }[];
}

/**
 * Fills NULL tenant columns from the manifest's `backfill` FK columns, parents first, in short
 * keyset batches; records every change; resumes an interrupted run of the same arguments.
 *
 * @example
 * const result = await runBackfill({ manifest, databaseUrl, detachCrossTenant: true });
 * // result.complete === false → result.orphans / result.conflicts say which rows and why
 */
export async function runBackfill(options: BackfillOptions): Promise<BackfillResult> {
  const logger = options.logger ?? silentLogger;
  const { manifest } = options;
  return withClient(options, 'crm-tenancy backfill', async (client) => {
    const live = await resolveLiveContext(client, manifest);
    const plan = buildBackfillPlan(live, options.table);
    for (const missing of plan.missingTables) logger.warn(`table ${manifest.schema}.${missing} does not exist; skipped`);
    if (options.assignOrphansTo !== undefined) await checkTenantExists(client, plan, options.assignOrphansTo);
    if (options.dryRun) return dryRunBackfill(client, plan, options);

    await ensureStateSchema(client, manifest.stateSchema);
    const release = await acquireDataLock(client, manifest.stateSchema, manifest.schema, 'backfill');
    const workers: pg.Client[] = [];
    try {
      const args = {
        schema: manifest.schema,
        table: options.table ?? null,
        detachCrossTenant: Boolean(options.detachCrossTenant),
        assignOrphansTo: options.assignOrphansTo ?? null,
      };
      const previous = await client.query<{ id: string }>(
        `SELECT id FROM ${qualified(manifest.stateSchema, 'runs')}
          WHERE command = 'backfill' AND status IN ('running', 'failed') AND args = $1::jsonb
          ORDER BY started_at DESC LIMIT 1`,
        [JSON.stringify(args)],
      );
      const resumed = previous.rows.length > 0;
      const runId = resumed ? previous.rows[0].id : await startRun(client, manifest.stateSchema, 'backfill', args);
      if (resumed) {
        await client.query(`UPDATE ${qualified(manifest.stateSchema, 'runs')} SET status = 'running' WHERE id = $1`, [runId]);
        logger.info(`resuming interrupted run ${runId}`);
      } else {
        logger.info(`backfill run ${runId}`);
      }
      const jobs = Math.max(1, Math.floor(options.jobs ?? 1));
      if (jobs > 1 && options.client && options.databaseUrl === undefined) {
        logger.warn(`--jobs ${jobs}: no database URL to open more connections with; running 1 job`);
      } else {
        for (let i = 1; i < jobs; i++) workers.push(await connect({ databaseUrl: options.databaseUrl, applicationName: 'crm-tenancy backfill' }));
      }
      const ctx: Ctx = {
        client,
        workers,
        stateSchema: manifest.stateSchema,
        runId,
        options,
        logger,
        batchSize: clampBatch(options.batchSize ?? DEFAULT_BATCH_SIZE),
        durations: new Map(),
        assigned: [],
      };
      try {
        for (const group of plan.groups) await fillGroup(ctx, group.tables, group.cyclic);
        const crossTenant: CrossTenantReference[] = [];
        for (const group of plan.groups) {
          for (const table of group.tables) {
            for (const fk of table.scopedForeignKeys) crossTenant.push(await crossTenantFor(ctx, table, fk));
          }
        }
        const result = await report(client, plan, options, crossTenant, {
          runId,
          resumed,
          filled: async (t) => {
            const row = await readProgress(ctx, t, 'fill');
            const assigned = await client.query<{ n: string }>(
              `SELECT coalesce(sum(rows), 0) AS n FROM ${qualified(ctx.stateSchema, 'backfill_changes')}
                WHERE run_id = $1 AND table_schema = $2 AND table_name = $3 AND column_name = $4 AND kind = 'assign-orphan'`,
              [runId, t.schema, t.table, t.tenantColumn],
            );
            return { filled: row?.changed ?? 0, assigned: Number(assigned.rows[0].n), passes: row?.pass ?? 0, batches: row?.batches ?? 0 };
          },
          durations: ctx.durations,
          assigned: ctx.assigned,
        });
        await finishRun(client, manifest.stateSchema, runId, 'done', summaryOf(result));
        return result;
      } catch (error) {
        await finishRun(client, manifest.stateSchema, runId, 'failed', {
          error: error instanceof Error ? error.message : String(error),
        }).catch(() => {});
        throw error;
      }
    } finally {
      for (const w of workers) await w.end().catch(() => {});
      await release();
    }
  });
}

function clampBatch(n: number): number {
  if (!Number.isFinite(n) || n < 1) throw new TenancyError('usage', `batch size must be a positive whole number, not ${n}`);
  return Math.max(1, Math.min(MAX_BATCH, Math.round(n)));
}

async function checkTenantExists(client: pg.ClientBase, plan: BackfillPlan, tenant: string): Promise<void> {
  try {
    const { rowCount } = await client.query(
      `SELECT 1 FROM ${qualified(plan.schema, plan.tenantTable)} WHERE ${ident(plan.tenantKey)} = $1::${plan.tenantType}`,
      [tenant],
    );
    if (rowCount === 0) throw new TenancyError('usage', `--assign-orphans-to ${tenant}: no such ${plan.tenantTable}.${plan.tenantKey}`);
  } catch (error) {
    if (isPgServerError(error)) {
      throw new TenancyError('usage', `--assign-orphans-to ${tenant}: not a valid ${plan.tenantType} (${error.message})`);
    }
    throw error;
  }
}

function summaryOf(result: BackfillResult): Record<string, unknown> {
  return {
    complete: result.complete,
    tables: result.tables
      .filter((t) => t.filled + t.assigned + t.orphans + t.conflicts + t.pending + t.detached > 0)
      .map((t) => ({ table: t.table, filled: t.filled, assigned: t.assigned, orphans: t.orphans, conflicts: t.conflicts, detached: t.detached })),
    orphans: result.orphans.length,
    conflicts: result.conflicts.length,
  };
}

// ---------------------------------------------------------------------------------------------------
// Progress bookkeeping

function progressTable(ctx: Ctx): string {
  return qualified(ctx.stateSchema, 'backfill_progress');
}

async function readProgress(ctx: Ctx, t: BackfillTablePlan, phase: string): Promise<ProgressRow | undefined> {
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

async function ensureProgress(ctx: Ctx, t: BackfillTablePlan, phase: string): Promise<ProgressRow> {
  await ctx.client.query(
    `INSERT INTO ${progressTable(ctx)} (run_id, table_schema, table_name, phase) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
    [ctx.runId, t.schema, t.table, phase],
  );
  return (await readProgress(ctx, t, phase))!;
}

async function setProgress(db: pg.ClientBase, ctx: Ctx, t: BackfillTablePlan, phase: string, sets: string, params: unknown[]): Promise<void> {
  await db.query(
    `UPDATE ${progressTable(ctx)} SET ${sets}, updated_at = clock_timestamp()
      WHERE run_id = $1 AND table_schema = $2 AND table_name = $3 AND phase = $4`,
    [ctx.runId, t.schema, t.table, phase, ...params],
  );
}

// ---------------------------------------------------------------------------------------------------
// Filling

/** One group (a table, or tables in a cycle): passes until a pass places nothing, then orphans. */
async function fillGroup(ctx: Ctx, tables: BackfillTablePlan[], cyclic: boolean): Promise<void> {
  const rows = new Map<string, ProgressRow>();
  for (const t of tables) rows.set(t.table, await ensureProgress(ctx, t, 'fill'));
  if (tables.every((t) => rows.get(t.table)!.status === 'done')) return;

  for (;;) {
    const round = Math.max(...tables.map((t) => rows.get(t.table)!.pass));
    for (const t of tables) {
      if (rows.get(t.table)!.pass < round) {
        await setProgress(ctx.client, ctx, t, 'fill', 'pass = $5, last_key = NULL, pass_done = false, pass_changed = 0, rows_done = 0', [round]);
        rows.set(t.table, (await readProgress(ctx, t, 'fill'))!);
      }
    }
    for (const t of tables) {
      const row = rows.get(t.table)!;
      if (row.status === 'done' || row.passDone) continue;
      await walkTable(ctx, t, 'fill', row, (lower, upper) => fillBatchSql(t, ctx.stateSchema, lower, upper), t.tenantColumn, async () => {
        if (t.sources.length === 0) return false;
        const { rowCount } = await ctx.client.query(
          `SELECT 1 FROM ${qualified(t.schema, t.table)} WHERE ${ident(t.tenantColumn)} IS NULL LIMIT 1`,
        );
        return (rowCount ?? 0) > 0;
      });
      rows.set(t.table, (await readProgress(ctx, t, 'fill'))!);
    }
    const placed = tables.reduce((n, t) => n + rows.get(t.table)!.passChanged, 0);
    if (!cyclic || placed === 0) break;
    ctx.logger.debug(`${tables.map((t) => t.table).join(', ')}: pass ${round} placed ${placed}; another pass`);
    for (const t of tables) {
      await setProgress(ctx.client, ctx, t, 'fill', 'pass = $5, last_key = NULL, pass_done = false, pass_changed = 0, rows_done = 0', [round + 1]);
      rows.set(t.table, (await readProgress(ctx, t, 'fill'))!);
    }
  }

  for (const t of tables) {
    if (rows.get(t.table)!.status === 'done') continue;
    await retryTransaction(
      () =>
        withTransaction(
          ctx.client,
          async (tx) => {
            if (ctx.options.assignOrphansTo !== undefined) {
              const res = await tx.query<{ keys: RowKey[] }>(assignOrphansSql(t, ctx.stateSchema), [
                ctx.runId,
                t.schema,
                t.table,
                t.tenantColumn,
                ctx.options.assignOrphansTo,
              ]);
              for (const key of res.rows[0]?.keys ?? []) {
                ctx.assigned.push({ table: t.table, key, tenant: ctx.options.assignOrphansTo });
                ctx.logger.info(`${t.table} ${JSON.stringify(key)}: orphan assigned to tenant ${ctx.options.assignOrphansTo}`);
              }
            }
            await setProgress(tx, ctx, t, 'fill', `status = 'done'`, []);
          },
          { lockTimeoutMs: ctx.options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS },
        ),
      { logger: ctx.logger, label: `${t.table}: finish` },
    );
  }
}

/**
 * Walks a table's primary key from the stored last key to the end in batches; each batch is one
 * transaction that also stores its progress, so a kill at any moment loses nothing.
 */
async function walkTable(
  ctx: Ctx,
  t: BackfillTablePlan,
  phase: string,
  start: ProgressRow,
  sqlFor: (lower: boolean, upper: boolean) => string,
  column: string,
  anythingToDo: () => Promise<boolean>,
): Promise<void> {
  if (start.lastKey === null && !(await anythingToDo())) {
    await setProgress(ctx.client, ctx, t, phase, 'pass_done = true', []);
    return;
  }
  return walkRanges(ctx, t, phase, start, sqlFor, column);
}

/**
 * The batch duration to aim at so that the slow tail stays under `target`: 70 % of it until 20
 * batches ran, then 90 % of it divided by the tail seen so far (p99 / p50 of the last 200 batches,
 * taken as 1.2 to 3). At 5M rows the tail was 1.5 (checkpoints, autovacuum): a fixed 70 % put p99 at
 * 206-207 ms for a 200 ms target.
 */
export function aimFor(target: number, durations: number[]): number {
  const recent = durations.slice(-200);
  if (recent.length < 20) return 0.7 * target;
  const tail = percentile(recent, 99)! / Math.max(1, percentile(recent, 50)!);
  return (0.9 * target) / Math.min(3, Math.max(1.2, tail));
}

interface ClaimedRange {
  lower: string[] | null;
  upper: string[] | null;
  size: number;
  done: boolean;
}

/**
 * The batches of one table on every connection of the run (the main one, plus --jobs − 1 more):
 * each claims the next key range (its upper bound found under a claim lock, so ranges never
 * overlap) and runs it as one batch transaction. With several jobs batches commit out of order, so
 * each stores as last_key the low-water mark — the key through which every claimed range has
 * committed — and a resume redoes at most the ranges that were in flight (harmless: a batch only
 * touches rows still NULL); with one job that is simply the batch's upper key. pass_done is set once
 * every range committed.
 */
async function walkRanges(
  ctx: Ctx,
  t: BackfillTablePlan,
  phase: string,
  start: ProgressRow,
  sqlFor: (lower: boolean, upper: boolean) => string,
  column: string,
): Promise<void> {
  const { options } = ctx;
  const lockTimeoutMs = options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
  const target = options.targetBatchMs ?? DEFAULT_TARGET_BATCH_MS;
  const task = phase === 'fill' ? t.table : `${t.table} (${phase})`;
  const total = await estimateRows(ctx.client, t);
  const durations = ctx.durations.get(`${t.table}\u0000${phase}`) ?? [];
  ctx.durations.set(`${t.table}\u0000${phase}`, durations);
  const began = performance.now();
  let rowsDone = start.rowsDone;
  let changedTotal = start.passChanged;
  let size = ctx.batchSize;
  let cursor = start.lastKey;
  let exhausted = false;
  let stopped = false;
  let committedThrough = start.lastKey;
  const pending: ClaimedRange[] = [];
  let claimChain: Promise<unknown> = Promise.resolve();

  const claim = (client: pg.ClientBase): Promise<ClaimedRange | null> => {
    const next = claimChain.then(async () => {
      if (exhausted || stopped) return null;
      const bound = await client.query(batchUpperBoundSql(t.schema, t.table, t.key, cursor !== null), [size - 1, ...(cursor ?? [])]);
      const upper: string[] | null = bound.rows[0] ? t.key.map((_, i) => bound.rows[0][`k${i}`]) : null;
      const range: ClaimedRange = { lower: cursor, upper, size, done: false };
      pending.push(range);
      cursor = upper;
      if (upper === null) exhausted = true;
      return range;
    });
    claimChain = next.catch(() => undefined);
    return next;
  };
  /** The low-water mark if `range` were committed too. */
  const lowWaterWith = (range: ClaimedRange): string[] | null => {
    let mark = committedThrough;
    for (const r of pending) {
      if (!(r.done || r === range) || r.upper === null) break;
      mark = r.upper;
    }
    return mark;
  };

  const work = async (client: pg.Client): Promise<void> => {
    for (let range = await claim(client); range; range = await claim(client)) {
      const claimed = range;
      const batchStart = performance.now();
      const { changed, rows } = await retryTransaction(
        () =>
          withTransaction(
            client,
            async (tx) => {
              // A batch lost in a server crash is lost with its progress (same transaction), and simply
              // redone on resume: waiting for the WAL flush of every batch buys nothing.
              if (!options.synchronousCommit) await tx.query(`SET LOCAL synchronous_commit = off`);
              const res = await tx.query(sqlFor(claimed.lower !== null, claimed.upper !== null), [
                ctx.runId,
                t.schema,
                t.table,
                column,
                ...(claimed.lower ?? []),
                ...(claimed.upper ?? []),
              ]);
              const n: number = res.rows[0]?.rows ?? 0;
              const batchRows = claimed.upper ? claimed.size : Math.max(0, total - rowsDone);
              await setProgress(
                tx,
                ctx,
                t,
                phase,
                `last_key = $5::jsonb, pass_changed = pass_changed + $6, changed = changed + $6, rows_done = rows_done + $7, batches = batches + 1`,
                [JSON.stringify(lowWaterWith(claimed)), n, batchRows],
              );
              return { changed: n, rows: batchRows };
            },
            { lockTimeoutMs },
          ),
        { logger: ctx.logger, label: `${task}: batch` },
      );
      claimed.done = true;
      while (pending.length > 0 && pending[0].done) {
        const r = pending.shift()!;
        if (r.upper !== null) committedThrough = r.upper;
      }
      const ms = performance.now() - batchStart;
      durations.push(ms);
      rowsDone += rows;
      changedTotal += changed;
      options.onBatch?.({ table: t.table, phase, rows, changed, ms, batchSize: claimed.size });
      const elapsed = (performance.now() - began) / 1000;
      options.onProgress?.({ kind: 'backfill',
        task,
        done: Math.min(rowsDone, Math.max(total, rowsDone)),
        total: Math.max(total, rowsDone),
        detail: { changed: changedTotal, rowsPerSec: elapsed > 0 ? Math.round((rowsDone - start.rowsDone) / elapsed) : 0, pass: start.pass },
      });
      if (target > 0) {
        const factor = Math.min(1.5, Math.max(0.5, aimFor(target, durations) / Math.max(ms, 1)));
        size = Math.max(MIN_BATCH, Math.min(MAX_BATCH, Math.round(claimed.size * factor)));
      }
      if (options.sleepMs) await sleep(options.sleepMs);
    }
  };

  const settled = await Promise.allSettled(
    [ctx.client, ...ctx.workers].map((client) =>
      work(client).catch((error) => {
        stopped = true; // the others finish their batch in flight and claim no more
        throw error;
      }),
    ),
  );
  const failure = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failure) throw failure.reason;
  await setProgress(ctx.client, ctx, t, phase, 'last_key = $5::jsonb, pass_done = true', [JSON.stringify(committedThrough)]);
}

async function estimateRows(client: pg.ClientBase, t: BackfillTablePlan): Promise<number> {
  if (t.catalog.estimatedRows > 0) return Math.round(t.catalog.estimatedRows);
  const { rows } = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${qualified(t.schema, t.table)}`);
  return Number(rows[0].n);
}

// ---------------------------------------------------------------------------------------------------
// Cross-tenant references

async function crossTenantFor(ctx: Ctx, t: BackfillTablePlan, fk: ScopedForeignKey): Promise<CrossTenantReference> {
  const limit = ctx.options.sampleLimit ?? 1000;
  const phase = `detach:${fk.constraint}`;
  let detached = 0;
  let found: number;
  if (ctx.options.detachCrossTenant && fk.nullable) {
    let row = await ensureProgress(ctx, t, phase);
    found = row.changed + (await countCrossTenant(ctx.client, t, fk));
    if (row.status !== 'done') {
      if (!row.passDone) {
        await walkTable(ctx, t, phase, row, (lower, upper) => detachBatchSql(t, fk, ctx.stateSchema, lower, upper), fk.column, async () =>
          (await countCrossTenant(ctx.client, t, fk)) > 0,
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
  const samples =
    remaining > 0
      ? (await ctx.client.query(crossTenantRowsSql(t, fk), [limit])).rows.map((r) => ({
          key: r.key,
          value: r.value,
          tenant: r.tenant,
          parentTenant: r.parent_tenant,
        }))
      : [];
  return {
    table: t.table,
    column: fk.column,
    constraint: fk.constraint,
    references: fk.parentTable,
    nullable: fk.nullable,
    found: Math.max(found, remaining + detached),
    detached,
    remaining,
    samples,
  };
}

async function countCrossTenant(client: pg.ClientBase, t: BackfillTablePlan, fk: ScopedForeignKey): Promise<number> {
  const { rows } = await client.query<{ n: string }>(crossTenantCountSql(t, fk));
  return Number(rows[0].n);
}

// ---------------------------------------------------------------------------------------------------
// Report

interface ReportSource {
  runId: string | null;
  resumed: boolean;
  filled: (t: BackfillTablePlan) => Promise<{ filled: number; assigned: number; passes: number; batches: number }>;
  durations: Map<string, number[]>;
  derived?: DerivedTables;
  assigned: { table: string; key: RowKey; tenant: string }[];
}

async function report(
  client: pg.ClientBase,
  plan: BackfillPlan,
  options: BackfillOptions,
  crossTenant: CrossTenantReference[],
  source: ReportSource,
): Promise<BackfillResult> {
  const limit = options.sampleLimit ?? 1000;
  const tables: BackfillTableResult[] = [];
  const orphans: UnplacedRow[] = [];
  const conflicts: UnplacedRow[] = [];
  for (const group of plan.groups) {
    for (const t of group.tables) {
      const counts = (await client.query(remainingCountsSql(t, source.derived))).rows[0];
      const n = { orphans: Number(counts.orphans), conflicts: Number(counts.conflicts), pending: Number(counts.pending) };
      if (n.orphans > 0) {
        const { rows } = await client.query(remainingRowsSql(t, 'orphan', source.derived), [limit]);
        for (const r of rows) orphans.push({ table: t.table, key: r.key, candidates: r.candidates });
      }
      if (n.conflicts > 0) {
        const { rows } = await client.query(remainingRowsSql(t, 'conflict', source.derived), [limit]);
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
    complete: !nullsLeft && !crossLeft,
    missingTables: plan.missingTables,
  };
}

const round = (n: number) => Math.round(n * 10) / 10;

// ---------------------------------------------------------------------------------------------------
// Dry run

/**
 * Simulates the whole run in one REPEATABLE READ snapshot, keeping would-be tenants in temporary
 * tables (dropped at the end): several hops, passes and orphan assignment come out exactly as the
 * real run would, and nothing is written to any real table or to the bookkeeping schema.
 */
async function dryRunBackfill(client: pg.Client, plan: BackfillPlan, options: BackfillOptions): Promise<BackfillResult> {
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
      const crossTenant: CrossTenantReference[] = [];
      const limit = options.sampleLimit ?? 1000;
      for (const group of plan.groups) {
        for (const t of group.tables) {
          for (const fk of t.scopedForeignKeys) {
            const found = await countCrossTenant(tx, t, fk);
            const samples =
              found > 0
                ? (await tx.query(crossTenantRowsSql(t, fk), [limit])).rows.map((r) => ({
                    key: r.key,
                    value: r.value,
                    tenant: r.tenant,
                    parentTenant: r.parent_tenant,
                  }))
                : [];
            const wouldDetach = options.detachCrossTenant && fk.nullable ? found : 0;
            crossTenant.push({
              table: t.table,
              column: fk.column,
              constraint: fk.constraint,
              references: fk.parentTable,
              nullable: fk.nullable,
              found,
              detached: wouldDetach,
              remaining: found - wouldDetach,
              samples,
            });
          }
        }
      }
      return report(tx, plan, options, crossTenant, {
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
