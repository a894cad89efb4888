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
    .option('--migrations-dir <dir>', 'the migration files (to name the migration that made a constraint the undo would violate)', 'migrations')
    .option('--json', 'print the result as JSON on stdout')
    .addHelpText(
      'after',
      `
Rows changed again since the run are left alone and reported. A run is undone once; a second
undo is refused. Before any step runs (also with --dry-run), the rows it would write are checked
against today's constraints (NOT NULL, CHECK, foreign keys, unique keys): when migrate has since made
one they would violate, undo refuses, changes nothing and names the constraint, the rows and the
\`crm-tenancy migrate down --count N\` that steps back the phase that made it.
Exit codes: 0 restored everything, 1 some rows had changed since (left alone) or refused by the
preflight (nothing changed), 2 could not run (unknown run id, already undone), 130 interrupted (one transaction: nothing was
undone; run it again).

Examples:
  $ crm-tenancy undo --list
  $ crm-tenancy undo dedupe-20261128T101500-3fa9`,
    )
    .action(lazyAction(() => import('../actions/undo.js'), { quiet: ([, opts]: [string | undefined, UndoCliOptions]) => Boolean(opts.json) }));
}
