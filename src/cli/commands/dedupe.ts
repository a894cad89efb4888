// The `dedupe` command's declaration: resolves duplicate keys within each tenant (code: actions/dedupe.ts).
import type { Command } from 'commander';
import { lazyAction } from '../lazy-action.js';
import type { DedupeCliOptions } from '../actions/dedupe.js';
import { healthOptions } from '../health-options.js';

export function register(program: Command): void {
  const command = program
    .command('dedupe')
    .description("resolve duplicates of the manifest's unique and singleton keys within each tenant (archived, re-pointed, undoable)")
    .option('--table <name>', 'only this scoped table')
    .option('--keep <rule>', 'row to keep: oldest | newest (by a created_at-like column, else the primary key) | COLUMN (smallest value)', 'oldest')
    .option('--dry-run', 'show the groups and what would be kept; write nothing')
    .option('--lock-timeout <ms>', 'lock_timeout of each group (retried with backoff on timeout)', '500')
    .option('--json', 'print the result as JSON on stdout');
  healthOptions(command)
    .addHelpText(
      'after',
      `
Before each group it pauses while the server is unhealthy for the table (a standby lagging, a long
autovacuum on it; checkpoint pressure with --max-requested-checkpoints), logging why, as GitLab's
batched migrations do; --no-health-pauses turns that off.
Only rows that are one entity are merged: rows sharing a key but differing in a foreign-key column
(or a column the key names in \`same\`) are left as they are and reported as conflicts.
Prints the totals and the first 20 groups and conflicts (refused ones first); --verbose lists every
one, --json gives them all as data.
Exit codes: 0 no duplicates left, 1 duplicates remain (a group was refused or is a conflict, or
--dry-run found some), 2 could not run, 130 interrupted (resolved groups stay resolved: run it
again for the rest). Every removed row is archived first: \`crm-tenancy undo RUN_ID\` restores it.

Examples:
  $ crm-tenancy dedupe --dry-run
  $ crm-tenancy dedupe --table twilio_settings --keep oldest`,
    )
    .action(lazyAction(() => import('../actions/dedupe.js'), { quiet: ([opts]: [DedupeCliOptions]) => Boolean(opts.json) }));
}
