// `crm-tenancy dedupe`: resolves duplicate unique/singleton keys within each tenant; renders totals and the first groups.
import { runDedupe, type DedupeConflict, type DedupeResult, type DuplicateGroup } from '../../dedupe/dedupe-runner.js';
import { tapInfo, type CommandContext } from '../context.js';
import { duration } from '../option-parsers.js';
import { summaryLogger } from '../summary-logger.js';
import { healthThresholds, type HealthCliOptions } from '../health-options.js';

export interface DedupeCliOptions extends HealthCliOptions {
  table?: string;
  keep: string;
  dryRun?: boolean;
  lockTimeout: string;
  json?: boolean;
}

/** Groups (and conflicts) listed without --verbose. */
export const LISTED = 20;
/** Per-group warnings of the core printed without --verbose. */
const WARNINGS = 10;

export async function run(ctx: CommandContext, opts: DedupeCliOptions): Promise<number> {
  const lockTimeoutMs = duration('--lock-timeout', opts.lockTimeout);
  let runId: string | undefined;
  const logger = summaryLogger(
    tapInfo(ctx.output.logger, (message) => {
      runId = /^dedupe run (\S+)$/.exec(message)?.[1] ?? runId;
    }),
    WARNINGS,
    ctx.output.verbose,
  );
  ctx.interrupt.describe(() =>
    opts.dryRun
      ? 'dedupe --dry-run stopped (nothing was written); run it again'
      : runId === undefined
        ? 'dedupe stopped before its run started (nothing was written); run it again'
        : `dedupe run ${runId} stopped: each group is its own transaction, so the groups resolved so far stay resolved ` +
          `(archived; \`crm-tenancy undo ${runId}\` restores them); run the same command again for the rest`,
  );
  const manifest = await ctx.loadManifest();
  // Also --dry-run: it is refused the same way on a standby, before anything else.
  await ctx.assertWritable('dedupe');
  const result = await runDedupe({
    databaseUrl: ctx.target.databaseUrl,
    manifest,
    table: opts.table,
    keep: opts.keep,
    dryRun: Boolean(opts.dryRun),
    lockTimeoutMs,
    health: healthThresholds(opts),
    logger,
  });
  logger.flush();
  if (opts.json) ctx.output.data(JSON.stringify(result, null, 2));
  else renderDedupe(ctx, result);
  return result.ok ? 0 : 1;
}

/** One line of totals: what was (dry run: would be) done, over how many groups and tables. */
export function dedupeTotals(result: DedupeResult): string {
  const groups = result.groups;
  const tables = new Set([...groups.map((g) => g.table), ...result.conflicts.map((k) => k.table)]).size;
  const n = (status: DuplicateGroup['status']) => groups.filter((g) => g.status === status).length;
  const conflicts = `${result.conflicts.length} conflict(s) left as they are`;
  if (result.dryRun) {
    const rows = groups.reduce((sum, g) => sum + (g.status === 'planned' ? g.removed.length : 0), 0);
    const refs = groups.reduce((sum, g) => sum + (g.status === 'planned' ? g.repointed.reduce((s, r) => s + r.rows, 0) : 0), 0);
    return (
      `${groups.length} duplicate group(s) in ${tables} table(s): ${n('planned')} would be resolved — ${rows} row(s) removed (archived), ` +
      `${refs} reference(s) re-pointed; ${n('refused') + n('skipped')} refused or skipped; ${conflicts}`
    );
  }
  return (
    `${groups.length} duplicate group(s) in ${tables} table(s): ${n('resolved')} resolved, ${n('refused')} refused, ${n('skipped')} skipped; ` +
    `${result.removed} row(s) removed (archived), ${result.repointed} reference(s) re-pointed; ${conflicts}`
  );
}

/** The groups to list: those needing attention (refused, skipped) first, then the rest, in the runner's order. */
function listed<T>(items: T[], first: (item: T) => boolean, verbose: boolean): { shown: T[]; hidden: number } {
  const ordered = [...items.filter(first), ...items.filter((i) => !first(i))];
  const shown = verbose ? ordered : ordered.slice(0, LISTED);
  return { shown, hidden: ordered.length - shown.length };
}

function renderDedupe(ctx: CommandContext, result: DedupeResult): void {
  const c = ctx.output.stdoutColor;
  const out = (line: string) => ctx.output.data(line);
  out(result.dryRun ? `dedupe (dry run: nothing written), keep ${result.keep}` : `dedupe run ${result.runId}, keep ${result.keep}`);
  if (result.groups.length === 0 && result.conflicts.length === 0) out('no duplicate groups');
  else out(dedupeTotals(result));
  const groups = listed(result.groups, (g) => g.status === 'refused' || g.status === 'skipped', ctx.output.verbose);
  for (const g of groups.shown) renderGroup(ctx, result, g);
  if (groups.hidden > 0) out(`  … and ${groups.hidden} more group(s) (--verbose lists them all, --json gives them as data)`);
  const conflicts = listed(result.conflicts, () => true, ctx.output.verbose);
  for (const k of conflicts.shown) renderConflict(ctx, k);
  if (conflicts.hidden > 0) out(`  … and ${conflicts.hidden} more conflict(s) (--verbose lists them all, --json gives them as data)`);
  for (const u of result.unindexedReferences) {
    out(c.yellow(`  ${u.table} (${u.columns.join(', ')}) references ${u.references} without an index: every removed row makes PostgreSQL scan ${u.table}`));
  }
  for (const n of result.nullTenantRows) {
    out(c.yellow(`  ${n.table}: ${n.rows} row(s) with a NULL tenant were not grouped (run \`crm-tenancy backfill\` first)`));
  }
  if (!result.dryRun && result.runId && result.removed > 0) ctx.output.info(`undo with: crm-tenancy undo ${result.runId}`);
}

function renderGroup(ctx: CommandContext, result: DedupeResult, g: DuplicateGroup): void {
  const c = ctx.output.stdoutColor;
  const what = g.kind === 'singleton' ? 'singleton' : `unique (${g.columns.join(', ')})${whereText(g.where)} = ${JSON.stringify(g.values)}`;
  const status = g.status === 'resolved' ? c.green('resolved') : g.status === 'planned' ? 'would resolve' : c.red(`${g.status}: ${g.reason}`);
  ctx.output.data(`  ${g.table} tenant ${JSON.stringify(g.tenant)} ${what}: ${status}`);
  ctx.output.data(`    keep ${JSON.stringify(g.kept)}; ${result.dryRun ? 'would remove' : 'remove'} ${g.removed.map((k) => JSON.stringify(k)).join(', ')}`);
  for (const r of g.repointed) {
    ctx.output.data(`    ${result.dryRun ? 'would re-point' : 're-pointed'} ${r.rows} row(s) of ${r.table}.${r.columns.join(', ')}`);
  }
}

function renderConflict(ctx: CommandContext, k: DedupeConflict): void {
  const c = ctx.output.stdoutColor;
  const why = k.differing.map((d) => `${d.column}${d.because === 'foreign-key' ? ' (foreign key)' : ' (same)'}`).join(', ');
  ctx.output.data(
    `  ${k.table} tenant ${JSON.stringify(k.tenant)} unique (${k.columns.join(', ')})${whereText(k.where)} = ${JSON.stringify(k.values)}: ` +
      c.red(`conflict: ${k.rows} rows differ in ${why}; distinct entities, not merged`),
  );
  for (const sample of k.samples) ctx.output.data(`    ${JSON.stringify(sample.key)}: ${JSON.stringify(sample.values)}`);
}

const whereText = (where: string | undefined): string => (where === undefined ? '' : ` where ${where}`);
