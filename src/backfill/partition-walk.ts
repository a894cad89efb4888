// Partitioned and keyless tables: one plan per leaf partition, and the ctid page walk of a table without a primary key.
import { performance } from 'node:perf_hooks';
import type { Catalog, CatalogTable } from '../db/catalog.js';
import { qualified } from '../db/quote.js';
import type { KeyColumn } from '../db/table-keys.js';
import { retryTransaction, sleep, withTransaction } from '../db/transaction.js';
import type { BackfillTablePlan } from './backfill-plan.js';
import { DEFAULT_TARGET_BATCH_MS, lockTimeoutOf, type RunContext } from './backfill-types.js';
import { aimFor, healthGate, nothingToDo } from './batch-walker.js';
import { setProgress, type ProgressRow } from './progress-store.js';

/**
 * The key of a table without a primary key: its ctid. Only the page walk below uses it as a range
 * (`ctid > '(p,0)' AND ctid <= '(q,0)'`: item numbers start at 1, so that is pages p … q-1, a TID
 * range scan on PostgreSQL 14+); the recorded key of a changed row is its ctid after the change.
 */
export const CTID_KEY: KeyColumn[] = [{ name: 'ctid', type: 'tid' }];

/** A whole number of pages per batch, from the batch size in rows (about 50 narrow rows a page). */
const ROWS_PER_PAGE = 50;
const MAX_PAGES = 10_000;

/** The leaf partitions (any depth) of a partitioned table, in a stable order; the table itself otherwise. */
export function leavesOf(catalog: Catalog, rel: CatalogTable): CatalogTable[] {
  if (rel.kind !== 'partitioned-table') return [rel];
  const out: CatalogTable[] = [];
  const walk = (parent: CatalogTable) => {
    const children = [...catalog.relations.values()]
      .filter((c) => c.partitionOf?.schema === parent.schema && c.partitionOf.name === parent.name)
      .sort((a, b) => (a.schema + '.' + a.name < b.schema + '.' + b.name ? -1 : 1));
    for (const child of children) {
      if (child.kind === 'partitioned-table') walk(child);
      else out.push(child);
    }
  };
  walk(rel);
  return out;
}

/**
 * A scoped table's plan split per leaf partition: a partitioned table has no rows (nor ctid) of
 * its own, so each leaf is walked, filled, recorded and reported on its own (`partitionOf` names
 * the scoped table, so tables deriving their tenant from it still come after all its leaves). A
 * table without a primary key is walked by ctid pages; with one, each leaf by the primary key it
 * inherits. Leaves in a schema the catalog was not read for are not seen (a partition lives in its
 * parent's schema as a rule).
 */
export function splitPerPartition(catalog: Catalog, plan: BackfillTablePlan, keyless: boolean): BackfillTablePlan[] {
  const rel = plan.catalog;
  if (rel.kind !== 'partitioned-table' && !keyless) return [plan];
  const leaves = leavesOf(catalog, rel);
  if (rel.kind === 'partitioned-table' && leaves.length === 0) return [];
  return leaves.map((leaf) => ({
    ...plan,
    schema: leaf.schema,
    table: leaf.name,
    key: keyless ? CTID_KEY : plan.key,
    // Cross-tenant samples and --detach-cross-tenant need a stable key; the audit checks keyless tables.
    scopedForeignKeys: keyless ? [] : plan.scopedForeignKeys.map((fk) => ({ ...fk, table: leaf.name })),
    catalog: leaf,
    keyless,
    partitionOf: rel.kind === 'partitioned-table' ? plan.table : undefined,
  }));
}

/** The table's size in pages now (new pages appended during the walk are walked too). */
async function pagesOf(ctx: RunContext, t: BackfillTablePlan): Promise<number> {
  const { rows } = await ctx.client.query<{ pages: string }>(
    `SELECT pg_catalog.pg_relation_size($1::regclass) / current_setting('block_size')::int8 AS pages`,
    [qualified(t.schema, t.table)],
  );
  return Number(rows[0].pages);
}

const pageTid = (page: number) => `(${page},0)`;

/**
 * Walks a table without a primary key by ctid page ranges, each batch one transaction that also
 * stores its progress (last_key = the next page, as a tid), so a kill loses nothing; the batch
 * size in pages adapts to the target batch duration like the key walk. One connection (--jobs does
 * not split a page walk). A row an UPDATE moves to a later page is not NULL any more: it is not
 * filled twice.
 */
export async function walkPages(
  ctx: RunContext,
  t: BackfillTablePlan,
  phase: string,
  start: ProgressRow,
  sqlFor: (lower: boolean, upper: boolean) => string,
  column: string,
  anythingToDo: () => Promise<boolean>,
): Promise<void> {
  if (await nothingToDo(ctx, t, phase, start, anythingToDo)) return;
  const { options } = ctx;
  const target = options.targetBatchMs ?? DEFAULT_TARGET_BATCH_MS;
  const durations = ctx.durations.get(`${t.table}\u0000${phase}`) ?? [];
  ctx.durations.set(`${t.table}\u0000${phase}`, durations);
  let page = start.lastKey ? Number(/^\((\d+),/.exec(start.lastKey[0])![1]) : 0;
  let size = Math.max(1, Math.min(MAX_PAGES, Math.round(ctx.batchSize / ROWS_PER_PAGE)));
  let total = await pagesOf(ctx, t);
  let changedTotal = start.passChanged;
  while (page < total) {
    await healthGate(ctx, ctx.client, t);
    const upper = page + size;
    const began = performance.now();
    const changed = await retryTransaction(
      () =>
        withTransaction(
          ctx.client,
          async (tx) => {
            if (!options.synchronousCommit) await tx.query(`SET LOCAL synchronous_commit = off`);
            const res = await tx.query(sqlFor(true, true), [ctx.runId, t.schema, t.table, column, pageTid(page), pageTid(upper)]);
            const n: number = res.rows[0]?.rows ?? 0;
            await setProgress(
              tx,
              ctx,
              t,
              phase,
              `last_key = $5::jsonb, pass_changed = pass_changed + $6, changed = changed + $6, rows_done = rows_done + $7, batches = batches + 1`,
              [JSON.stringify([pageTid(upper)]), n, size * ROWS_PER_PAGE],
            );
            return n;
          },
          { lockTimeoutMs: lockTimeoutOf(options) },
        ),
      { logger: ctx.logger, label: `${t.table}: pages ${page}-${upper - 1}` },
    );
    const ms = performance.now() - began;
    durations.push(ms);
    changedTotal += changed;
    options.onBatch?.({ table: t.table, phase, rows: size * ROWS_PER_PAGE, changed, ms, batchSize: size * ROWS_PER_PAGE });
    options.onProgress?.({ kind: 'backfill', task: t.table, done: Math.min(upper, total), total, detail: { changed: changedTotal, rowsPerSec: 0, pass: start.pass } });
    page = upper;
    if (target > 0) size = Math.max(1, Math.min(MAX_PAGES, Math.round(size * Math.min(1.5, Math.max(0.5, aimFor(target, durations) / Math.max(ms, 1))))));
    if (options.sleepMs) await sleep(options.sleepMs);
    if (page >= total) total = await pagesOf(ctx, t);
  }
  await setProgress(ctx.client, ctx, t, phase, 'last_key = $5::jsonb, pass_done = true', [JSON.stringify([pageTid(page)])]);
}
