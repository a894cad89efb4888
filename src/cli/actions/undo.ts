// `crm-tenancy undo`: restores what one backfill or dedupe run changed; `undo --list` shows recent runs.
import { listRuns, undoRun, type UndoResult } from '../../undo/undo-runner.js';
import { TenancyError } from '../../errors.js';
import type { CommandContext } from '../context.js';
import { listTable } from '../table-styles.js';

export interface UndoCliOptions {
  list?: boolean;
  dryRun?: boolean;
  json?: boolean;
}

export async function run(ctx: CommandContext, runId: string | undefined, opts: UndoCliOptions): Promise<number> {
  const manifest = await ctx.loadManifest();
  if (opts.list) {
    ctx.interrupt.describe(() => 'undo --list stopped (it only reads); run it again');
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
  ctx.interrupt.describe(() =>
    opts.dryRun
      ? `undo --dry-run of ${runId} stopped (rolled back, as always); run it again`
      : `undo of ${runId} stopped: it is one transaction, so nothing was undone; run the same command again`,
  );
  await ctx.assertWritable('undo');
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
