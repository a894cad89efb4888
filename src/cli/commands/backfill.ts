// The `backfill` command: fills NULL tenant columns along FK columns, batched and resumable; renders the report.
import type { Command } from 'commander';
import {
  DEFAULT_BATCH_SIZE,
  DEFAULT_LOCK_TIMEOUT_MS,
  DEFAULT_TARGET_BATCH_MS,
  runBackfill,
  type BackfillResult,
} from '../../backfill/backfill-runner.js';
import { action, type CommandContext } from '../context.js';
import { duration, positiveInt } from '../option-parsers.js';
import { withProgress } from '../progress.js';
import { listTable } from '../table-styles.js';

interface BackfillCliOptions {
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

export function register(program: Command): void {
  program
    .command('backfill')
    .description('fill NULL tenant columns from parent rows (manifest `backfill` FK columns), in short resumable batches')
    .option('--table <name>', 'only this scoped table')
    .option('--dry-run', 'report what would be filled, orphans and conflicts; write nothing')
    .option('--batch-size <n>', 'first batch size in rows (adapts toward --target-batch-ms)', String(DEFAULT_BATCH_SIZE))
    .option('--target-batch-ms <ms>', 'batch duration to adapt toward (0 = fixed batch size)', String(DEFAULT_TARGET_BATCH_MS))
    .option('--sleep-ms <ms>', 'pause between batches', '0')
    .option('--jobs <n>', 'connections running batches of one table at once, on disjoint key ranges', '1')
    .option('--lock-timeout <ms>', 'lock_timeout of each batch (retried with backoff on timeout)', String(DEFAULT_LOCK_TIMEOUT_MS))
    .option('--assign-orphans-to <tenant>', 'assign rows no parent can place to this tenant (each row logged)')
    .option('--detach-cross-tenant', "set nullable FKs that point at another tenant's row to NULL (recorded, undoable)")
    .option('--json', 'print the report as JSON on stdout')
    .addHelpText(
      'after',
      `
Exit codes: 0 every NULL tenant filled, 1 orphans or conflicts remain (or NOT NULL cross-tenant
references with --detach-cross-tenant), 2 could not run.
Interrupted (even kill -9)? Run the same command again: it continues where it stopped.
Every change is recorded: \`crm-tenancy undo RUN_ID\` restores it.

Examples:
  $ crm-tenancy backfill --dry-run
  $ crm-tenancy backfill --detach-cross-tenant
  $ crm-tenancy backfill --table documents --batch-size 5000 --sleep-ms 50 --json`,
    )
    .action(
      action(
        async (ctx, opts: BackfillCliOptions) => {
          const options = {
            batchSize: positiveInt('--batch-size', opts.batchSize),
            jobs: positiveInt('--jobs', opts.jobs),
            targetBatchMs: duration('--target-batch-ms', opts.targetBatchMs),
            sleepMs: duration('--sleep-ms', opts.sleepMs),
            lockTimeoutMs: duration('--lock-timeout', opts.lockTimeout),
          };
          const manifest = await ctx.loadManifest();
          const result = await withProgress(ctx.output, { json: opts.json }, (onProgress) =>
            runBackfill({
              databaseUrl: ctx.target.databaseUrl,
              manifest,
              table: opts.table,
              dryRun: Boolean(opts.dryRun),
              ...options,
              assignOrphansTo: opts.assignOrphansTo,
              detachCrossTenant: Boolean(opts.detachCrossTenant),
              logger: ctx.output.logger,
              onProgress,
            }),
          );
          if (opts.json) ctx.output.data(JSON.stringify(result, null, 2));
          else renderBackfill(ctx, result, Boolean(opts.detachCrossTenant));
          return result.complete ? 0 : 1;
        },
        { quiet: ([opts]) => Boolean(opts.json) },
      ),
    );
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
  const list = (title: string, rows: { table: string; key: unknown; candidates: unknown[] }[]) => {
    if (rows.length === 0) return;
    ctx.output.data(`${title} (${rows.length}${rows.length >= 1000 ? '+' : ''}):`);
    for (const r of rows.slice(0, 20)) {
      ctx.output.data(`  ${r.table} ${JSON.stringify(r.key)}  candidates: ${r.candidates.length ? r.candidates.join(', ') : 'none'}`);
    }
    if (rows.length > 20) ctx.output.data(`  … and ${rows.length - 20} more (--json lists them all)`);
  };
  if (result.assignedOrphans.length > 0) {
    ctx.output.data(`orphans assigned (--assign-orphans-to): ${result.assignedOrphans.length}`);
    for (const a of result.assignedOrphans.slice(0, 20)) ctx.output.data(`  ${a.table} ${JSON.stringify(a.key)} → ${a.tenant}`);
    if (result.assignedOrphans.length > 20) ctx.output.data(`  … and ${result.assignedOrphans.length - 20} more (--json lists them all)`);
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
  if (result.complete) ctx.output.data(c.green(result.dryRun ? 'every NULL tenant would be filled' : 'every NULL tenant is filled'));
  if (result.runId && !result.dryRun) ctx.output.info(`undo with: crm-tenancy undo ${result.runId}`);
}
