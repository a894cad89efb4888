// The `undo` command: restores what one backfill or dedupe run changed; `undo --list` shows recent runs.
import type { Command } from 'commander';
import { listRuns, undoRun, type UndoResult } from '../../undo/undo-runner.js';
import { TenancyError } from '../../errors.js';
import { action, type CommandContext } from '../context.js';
import { listTable } from '../table-styles.js';

interface UndoCliOptions {
  list?: boolean;
  dryRun?: boolean;
  json?: boolean;
}

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
2 could not run (unknown run id, already undone).

Examples:
  $ crm-tenancy undo --list
  $ crm-tenancy undo dedupe-20261128T101500-3fa9`,
    )
    .action(
      action(
        async (ctx, runId: string | undefined, opts: UndoCliOptions) => {
          const manifest = await ctx.loadManifest();
          if (opts.list) {
            const runs = await listRuns({ databaseUrl: ctx.target.databaseUrl, manifest });
            if (opts.json) {
              ctx.output.data(JSON.stringify(runs, null, 2));
              return 0;
            }
            if (runs.length === 0) {
              ctx.output.data('no backfill or dedupe runs yet');
              return 0;
            }
            const table = listTable(['run id', 'status', 'started', 'by'], ctx.output);
            for (const r of runs) table.push([r.id, r.status, new Date(r.startedAt).toISOString(), r.startedBy]);
            ctx.output.data(table.toString());
            return 0;
          }
          if (!runId) throw new TenancyError('usage', 'undo needs a RUN_ID (or --list)', { hint: '`crm-tenancy undo --list` shows the recent runs' });
          const result = await undoRun({
            databaseUrl: ctx.target.databaseUrl,
            manifest,
            runId,
            dryRun: Boolean(opts.dryRun),
            logger: ctx.output.logger,
          });
          if (opts.json) ctx.output.data(JSON.stringify(result, null, 2));
          else renderUndo(ctx, result);
          return result.changedSince.length === 0 && result.steps.every((s) => s.changedSince === 0) ? 0 : 1;
        },
        { quiet: ([, opts]) => Boolean(opts.json) },
      ),
    );
}

const VERBS: Record<string, string> = {
  fill: 'set back to NULL',
  detach: 'foreign key restored',
  reinsert: 'removed row re-inserted',
  repoint: 'reference pointed back',
};

function renderUndo(ctx: CommandContext, result: UndoResult): void {
  ctx.output.data(`${result.dryRun ? 'undo (dry run: rolled back)' : 'undone'}: ${result.command} run ${result.runId}`);
  for (const s of result.steps) {
    const col = s.column ? `.${s.column}` : '';
    const left = s.changedSince > 0 ? `, ${s.changedSince} changed since (left alone)` : '';
    ctx.output.data(`  ${s.table}${col}: ${s.restored} ${VERBS[s.kind]}${left}`);
  }
  if (result.steps.length === 0) ctx.output.data('  the run changed nothing');
}
