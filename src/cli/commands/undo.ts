// The `undo` command's declaration: restores what one backfill or dedupe run changed (code: actions/undo.ts).
import type { Command } from 'commander';
import { lazyAction } from '../lazy-action.js';
import type { UndoCliOptions } from '../actions/undo.js';

export function register(program: Command): void {
  program
    .command('undo')
    .description('restore exactly what a backfill or dedupe run changed (RUN_ID from its output or `undo --list`)')
    .argument('[run-id]', 'the run to undo')
    .option('--list', 'show the recent backfill and dedupe runs')
    .option('--dry-run', 'run the undo in a transaction that is rolled back and report what it would restore')
    .option('--json', 'print the result as JSON on stdout')
    .addHelpText(
      'after',
      `
Rows changed again since the run are left alone and reported. A run is undone once; a second
undo is refused. Exit codes: 0 restored everything, 1 some rows had changed since (left alone),
2 could not run (unknown run id, already undone), 130 interrupted (one transaction: nothing was
undone; run it again).

Examples:
  $ crm-tenancy undo --list
  $ crm-tenancy undo dedupe-20261128T101500-3fa9`,
    )
    .action(lazyAction(() => import('../actions/undo.js'), { quiet: ([, opts]: [string | undefined, UndoCliOptions]) => Boolean(opts.json) }));
}
