// Walks a table's primary key in short batch transactions (one or several connections), adapting the batch size.
import { performance } from 'node:perf_hooks';
import type pg from 'pg';
import { qualified } from '../db/quote.js';
import { retryTransaction, sleep, withTransaction } from '../db/transaction.js';
import { waitWhileUnhealthy } from '../db/server-health.js';
import { TenancyError } from '../errors.js';
import type { BackfillTablePlan } from './backfill-plan.js';
import { batchUpperBoundSql } from './backfill-sql.js';
import { DEFAULT_TARGET_BATCH_MS, MAX_BATCH, MIN_BATCH, lockTimeoutOf, type RunContext } from './backfill-types.js';
import { percentile } from './percentile.js';
import { setProgress, type ProgressRow } from './progress-store.js';

/** The first batch size, checked: a positive whole number, at most MAX_BATCH. */
export function clampBatch(n: number): number {
  if (!Number.isFinite(n) || n < 1) throw new TenancyError('usage', `batch size must be a positive whole number, not ${n}`);
  return Math.max(1, Math.min(MAX_BATCH, Math.round(n)));
}

/**
 * Call at the top of each batch, on the connection that runs it: returns at once while the server is
 * healthy for the table (or without `options.health`); otherwise pauses until it is, logging each
 * pause, and adds the pauses to the run's record.
 */
export async function healthGate(ctx: RunContext, client: pg.ClientBase, t: BackfillTablePlan): Promise<void> {
  const { health, signal } = ctx.options;
  if (!health) return;
  const waited = await waitWhileUnhealthy(client, { schema: t.schema, table: t.table }, health, ctx.logger, signal);
  if (waited.pauses === 0) return;
  const record = ctx.healthPauses;
  record.pauses += waited.pauses;
  record.pausedMs += waited.pausedMs;
  if (record.waits.length < 100) record.waits.push({ table: t.table, pauses: waited.pauses, pausedMs: waited.pausedMs, reasons: waited.reasons[0] });
}

/**
 * A pass that has not started and has nothing to do is recorded as done at once (no batch, no walk).
 * Shared by the key walk and the page walk of a table without a primary key.
 */
export async function nothingToDo(
  ctx: RunContext,
  t: BackfillTablePlan,
  phase: string,
  start: ProgressRow,
  anythingToDo: () => Promise<boolean>,
): Promise<boolean> {
  if (start.lastKey !== null || (await anythingToDo())) return false;
  await setProgress(ctx.client, ctx, t, phase, 'pass_done = true', []);
  return true;
}

/**
 * Walks a table's primary key from the stored last key to the end in batches; each batch is one
 * transaction that also stores its progress, so a kill at any moment loses nothing.
 */
export async function walkTable(
  ctx: RunContext,
  t: BackfillTablePlan,
  phase: string,
  start: ProgressRow,
  sqlFor: (lower: boolean, upper: boolean) => string,
  column: string,
  anythingToDo: () => Promise<boolean>,
): Promise<void> {
  if (await nothingToDo(ctx, t, phase, start, anythingToDo)) return;
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
  ctx: RunContext,
  t: BackfillTablePlan,
  phase: string,
  start: ProgressRow,
  sqlFor: (lower: boolean, upper: boolean) => string,
  column: string,
): Promise<void> {
  const { options } = ctx;
  const lockTimeoutMs = lockTimeoutOf(options);
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
    for (;;) {
      if (exhausted || stopped) return;
      // Every job checks before each of its batches, before it claims a range (a paused job holds none).
      await healthGate(ctx, client, t);
      const claimed = await claim(client);
      if (!claimed) return;
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
