// `crm-tenancy backfill`: fills NULL tenant columns along FK columns, batched and resumable; renders the report.
import { runBackfill, type BackfillResult } from '../../backfill/backfill-runner.js';
import { tapInfo, type CommandContext } from '../context.js';
import { count, type ProgressLog } from '../interrupt.js';
import { duration, positiveInt } from '../option-parsers.js';
import { withProgress } from '../progress.js';
import { listTable } from '../table-styles.js';
import { healthThresholds, type HealthCliOptions } from '../health-options.js';

export interface BackfillCliOptions extends HealthCliOptions {
  table?: string;
  dryRun?: boolean;
  batchSize: string;
  jobs: string;
  targetBatchMs: string;
  sleepMs: string;
  lockTimeout: string;
  assignOrphansTo?: string;
  detachCrossTenant?: boolean;
  json?: boolean;
}

export async function run(ctx: CommandContext, opts: BackfillCliOptions): Promise<number> {
  const options = {
    batchSize: positiveInt('--batch-size', opts.batchSize),
    jobs: positiveInt('--jobs', opts.jobs),
    targetBatchMs: duration('--target-batch-ms', opts.targetBatchMs),
    sleepMs: duration('--sleep-ms', opts.sleepMs),
    lockTimeoutMs: duration('--lock-timeout', opts.lockTimeout),
    health: healthThresholds(opts),
  };
  // The run id, from the runner's `backfill run ID` / `resuming interrupted run ID` line.
  let runId: string | undefined;
  const logger = tapInfo(ctx.output.logger, (message) => {
    runId = /^(?:backfill run|resuming interrupted run) (\S+)$/.exec(message)?.[1] ?? runId;
  });
  ctx.interrupt.describe((progress) => (opts.dryRun ? 'backfill --dry-run stopped (nothing was written); run it again' : describeInterruptedBackfill(runId, progress)));
  const manifest = await ctx.loadManifest();
  // Also --dry-run: it reads in a transaction of its own and is refused the same way on a standby.
  await ctx.assertWritable('backfill');
  const result = await withProgress(ctx.output, { json: opts.json, interrupt: ctx.interrupt }, (onProgress) =>
    runBackfill({
      databaseUrl: ctx.target.databaseUrl,
      manifest,
      table: opts.table,
      dryRun: Boolean(opts.dryRun),
      ...options,
      assignOrphansTo: opts.assignOrphansTo,
      detachCrossTenant: Boolean(opts.detachCrossTenant),
      logger,
      onProgress,
    }),
  );
  if (opts.json) ctx.output.data(JSON.stringify(result, null, 2));
  else renderBackfill(ctx, result, Boolean(opts.detachCrossTenant));
  return result.ok ? 0 : 1;
}

/**
 * The Ctrl-C line: the run and how far it got (rows filled, committed batch by batch; the batch in
 * flight was rolled back). The next run with the same arguments takes the run over.
 */
export function describeInterruptedBackfill(runId: string | undefined, progress: ProgressLog): string {
  if (runId === undefined) return 'backfill stopped before its run started (nothing was written); run it again';
  const events = [...progress.values()].filter((e) => e.kind === 'backfill');
  const filled = events.reduce((n, e) => n + Number(e.detail?.changed ?? 0), 0);
  const after = events.length > 0 ? ` after ${count(filled)} rows filled` : '';
  return `backfill run ${runId} stopped${after}; run the same command again to resume`;
}

function renderBackfill(ctx: CommandContext, result: BackfillResult, detach: boolean): void {
  const c = ctx.output.stdoutColor;
  const verb = result.dryRun ? 'would fill' : 'filled';
  const table = listTable(['table', verb, 'assigned', 'orphans', 'conflicts', 'pending', 'detached'], ctx.output);
  let quiet = 0;
  for (const t of result.tables) {
    if (t.filled + t.assigned + t.orphans + t.conflicts + t.pending + t.detached === 0) {
      quiet++;
      continue;
    }
    table.push([t.table, t.filled, t.assigned, t.orphans ? c.red(t.orphans) : 0, t.conflicts ? c.red(t.conflicts) : 0, t.pending, t.detached]);
  }
  const header = result.dryRun ? 'backfill (dry run: nothing written)' : `backfill run ${result.runId}${result.resumed ? ' (resumed)' : ''}`;
  ctx.output.data(header);
  if (table.length > 0) ctx.output.data(table.toString());
  if (quiet > 0) ctx.output.data(`${quiet} table(s) had no NULL tenant to fill`);
  // The first 20 of each list; --verbose lists every one (as many as the runner samples).
  const shown = ctx.output.verbose ? Infinity : 20;
  const more = (n: number) => {
    if (n > shown) ctx.output.data(`  … and ${n - shown} more (--verbose lists them all, --json gives them as data)`);
  };
  const list = (title: string, rows: { table: string; key: unknown; candidates: unknown[] }[]) => {
    if (rows.length === 0) return;
    ctx.output.data(`${title} (${rows.length}${rows.length >= 1000 ? '+' : ''}):`);
    for (const r of rows.slice(0, shown)) {
      ctx.output.data(`  ${r.table} ${JSON.stringify(r.key)}  candidates: ${r.candidates.length ? r.candidates.join(', ') : 'none'}`);
    }
    more(rows.length);
  };
  if (result.assignedOrphans.length > 0) {
    ctx.output.data(`orphans assigned (--assign-orphans-to): ${result.assignedOrphans.length}`);
    for (const a of result.assignedOrphans.slice(0, shown)) ctx.output.data(`  ${a.table} ${JSON.stringify(a.key)} → ${a.tenant}`);
    more(result.assignedOrphans.length);
  }
  list(c.red('orphans: no source can place these rows (left NULL; --assign-orphans-to TENANT to assign them)'), result.orphans);
  list(c.red('conflicts: sources disagree (left NULL; fix by hand)'), result.conflicts);
  const cross = result.crossTenant.filter((x) => x.found > 0);
  if (cross.length > 0) {
    ctx.output.data(detach ? 'cross-tenant references:' : 'cross-tenant references (information; fix with --detach-cross-tenant):');
    for (const x of cross) {
      const what = detach
        ? x.nullable
          ? `${x.detached} detached (set to NULL)`
          : c.red(`${x.remaining} left: ${x.column} is NOT NULL, fix by hand`)
        : `${x.found} row(s)`;
      ctx.output.data(`  ${x.table}.${x.column} → ${x.references}: ${what}`);
    }
  }
  const hp = result.healthPauses;
  if (hp.pauses > 0) {
    const tables = [...new Set(hp.waits.map((w) => w.table))].join(', ');
    ctx.output.data(`paused ${hp.pauses} time(s), ${(hp.pausedMs / 1000).toFixed(1)} s in all, while the server was unhealthy (${tables}): ${hp.waits[0].reasons.join('; ')}`);
  }
  if (result.ok) ctx.output.data(c.green(result.dryRun ? 'every NULL tenant would be filled' : 'every NULL tenant is filled'));
  if (result.runId && !result.dryRun) ctx.output.info(`undo with: crm-tenancy undo ${result.runId}`);
}
