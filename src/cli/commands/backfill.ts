// The `backfill` command's declaration: fills NULL tenant columns along FK columns (code: actions/backfill.ts).
import type { Command } from 'commander';
import { DEFAULT_BATCH_SIZE, DEFAULT_LOCK_TIMEOUT_MS, DEFAULT_TARGET_BATCH_MS } from '../../backfill/backfill-types.js';
import { lazyAction } from '../lazy-action.js';
import type { BackfillCliOptions } from '../actions/backfill.js';
import { healthOptions } from '../health-options.js';

export function register(program: Command): void {
  const command = program
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
    .option('--json', 'print the report as JSON on stdout');
  healthOptions(command)
    .addHelpText(
      'after',
      `
Before each batch (on every --jobs connection) it pauses while the server is unhealthy for the
table (a standby lagging, a long autovacuum on it; checkpoint pressure with
--max-requested-checkpoints), logging why, as GitLab's batched migrations do; the report (and
--json: healthPauses) counts the pauses; --no-health-pauses turns that off.
Exit codes: 0 every NULL tenant filled, 1 orphans or conflicts remain (or NOT NULL cross-tenant
references with --detach-cross-tenant), 2 could not run, 130 interrupted.
Interrupted (Ctrl-C, even kill -9)? Run the same command again: it continues where it stopped.
Every change is recorded: \`crm-tenancy undo RUN_ID\` restores it.

Examples:
  $ crm-tenancy backfill --dry-run
  $ crm-tenancy backfill --detach-cross-tenant
  $ crm-tenancy backfill --table documents --batch-size 5000 --sleep-ms 50 --json`,
    )
    .action(lazyAction(() => import('../actions/backfill.js'), { quiet: ([opts]: [BackfillCliOptions]) => Boolean(opts.json) }));
}
