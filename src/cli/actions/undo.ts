// `crm-tenancy undo`: restores what one backfill or dedupe run changed; `undo --list` shows recent runs.
import { listRuns, undoRun, type UndoResult } from '../../undo/undo-runner.js';
import { TenancyError } from '../../errors.js';
import type { CommandContext } from '../context.js';
import { listTable } from '../table-styles.js';

export interface UndoCliOptions {
  list?: boolean;
  dryRun?: boolean;
  json?: boolean;
  migrationsDir?: string;
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
    migrationsDir: opts.migrationsDir,
    logger: ctx.output.logger,
  });
  if (opts.json) ctx.output.data(JSON.stringify(result, null, 2));
  else if (result.refused.length > 0) renderRefusal(ctx, result);
  else renderUndo(ctx, result);
  if (result.refused.length > 0) return 1;
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

/** Which constraint, which rows, and what to step back first: on stderr, nothing was changed. */
function renderRefusal(ctx: CommandContext, result: UndoResult): void {
  ctx.output.warn(
    `refused: undoing ${result.command} run ${result.runId} would violate today's constraints; nothing was changed${result.dryRun ? ' (dry run)' : ''}`,
  );
  for (const v of result.refused) {
    const what = v.kind === 'not-null' ? `NOT NULL on ${v.columns[0]}` : `${v.kind} ${v.constraint}`.trim();
    const rows = v.count > 0 ? `${v.count} row(s), e.g. ${v.samples.map((k) => JSON.stringify(k)).join(' ')}` : v.detail;
    const made = v.migration ? ` (made by migration ${v.migration.name}${v.migration.phase ? `, phase ${v.migration.phase}` : ''})` : '';
    ctx.output.stderr.write(`  ${v.table}: ${what}${made}: ${rows}\n`);
  }
  const step = result.stepBack;
  ctx.output.stderr.write(
    step
      ? `step back first: ${step.command}  (reverts the migrations back to ${step.to}${step.phase ? `, the ${step.phase} phase` : ''}), then run this undo again; \`crm-tenancy migrate\` re-applies them once the data allows\n`
      : 'no migration of crm-tenancy made these constraints: fix the rows or relax the constraint by hand, then run this undo again\n',
  );
}
