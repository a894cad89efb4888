// The `dedupe` command: resolves duplicate unique/singleton keys within each tenant; renders the groups.
import type { Command } from 'commander';
import { runDedupe, type DedupeResult } from '../../dedupe/dedupe-runner.js';
import { action, type CommandContext } from '../context.js';
import { duration } from '../option-parsers.js';

interface DedupeCliOptions {
  table?: string;
  keep: string;
  dryRun?: boolean;
  lockTimeout: string;
  json?: boolean;
}

export function register(program: Command): void {
  program
    .command('dedupe')
    .description("resolve duplicates of the manifest's unique and singleton keys within each tenant (archived, re-pointed, undoable)")
    .option('--table <name>', 'only this scoped table')
    .option('--keep <rule>', 'row to keep: oldest | newest (by a created_at-like column, else the primary key) | COLUMN (smallest value)', 'oldest')
    .option('--dry-run', 'show the groups and what would be kept; write nothing')
    .option('--lock-timeout <ms>', 'lock_timeout of each group (retried with backoff on timeout)', '500')
    .option('--json', 'print the result as JSON on stdout')
    .addHelpText(
      'after',
      `
Only rows that are one entity are merged: rows sharing a key but differing in a foreign-key column
(or a column the key names in \`same\`) are left as they are and reported as conflicts.
Exit codes: 0 no duplicates left, 1 duplicates remain (a group was refused or is a conflict, or
--dry-run found some), 2 could not run. Every removed row is archived first:
\`crm-tenancy undo RUN_ID\` restores it.

Examples:
  $ crm-tenancy dedupe --dry-run
  $ crm-tenancy dedupe --table twilio_settings --keep oldest`,
    )
    .action(
      action(
        async (ctx, opts: DedupeCliOptions) => {
          const lockTimeoutMs = duration('--lock-timeout', opts.lockTimeout);
          const manifest = await ctx.loadManifest();
          const result = await runDedupe({
            databaseUrl: ctx.target.databaseUrl,
            manifest,
            table: opts.table,
            keep: opts.keep,
            dryRun: Boolean(opts.dryRun),
            lockTimeoutMs,
            logger: ctx.output.logger,
          });
          if (opts.json) ctx.output.data(JSON.stringify(result, null, 2));
          else renderDedupe(ctx, result);
          return result.complete ? 0 : 1;
        },
        { quiet: ([opts]) => Boolean(opts.json) },
      ),
    );
}

function renderDedupe(ctx: CommandContext, result: DedupeResult): void {
  const c = ctx.output.stdoutColor;
  ctx.output.data(result.dryRun ? `dedupe (dry run: nothing written), keep ${result.keep}` : `dedupe run ${result.runId}, keep ${result.keep}`);
  if (result.groups.length === 0 && result.conflicts.length === 0) ctx.output.data('no duplicate groups');
  for (const g of result.groups) {
    const what = g.kind === 'singleton' ? 'singleton' : `unique (${g.columns.join(', ')})${whereText(g.where)} = ${JSON.stringify(g.values)}`;
    const status =
      g.status === 'resolved' ? c.green('resolved') : g.status === 'planned' ? 'would resolve' : c.red(`${g.status}: ${g.reason}`);
    ctx.output.data(`  ${g.table} tenant ${JSON.stringify(g.tenant)} ${what}: ${status}`);
    ctx.output.data(`    keep ${JSON.stringify(g.kept)}; ${result.dryRun ? 'would remove' : 'remove'} ${g.removed.map((k) => JSON.stringify(k)).join(', ')}`);
    for (const r of g.repointed) {
      ctx.output.data(`    ${result.dryRun ? 'would re-point' : 're-pointed'} ${r.rows} row(s) of ${r.table}.${r.columns.join(', ')}`);
    }
  }
  for (const k of result.conflicts) {
    const why = k.differing.map((d) => `${d.column}${d.because === 'foreign-key' ? ' (foreign key)' : ' (same)'}`).join(', ');
    ctx.output.data(`  ${k.table} tenant ${JSON.stringify(k.tenant)} unique (${k.columns.join(', ')})${whereText(k.where)} = ${JSON.stringify(k.values)}: ${c.red(`conflict: ${k.rows} rows differ in ${why}; distinct entities, not merged`)}`);
    for (const sample of k.samples) ctx.output.data(`    ${JSON.stringify(sample.key)}: ${JSON.stringify(sample.values)}`);
  }
  for (const u of result.unindexedReferences) {
    ctx.output.data(c.yellow(`  ${u.table} (${u.columns.join(', ')}) references ${u.references} without an index: every removed row makes PostgreSQL scan ${u.table}`));
  }
  for (const n of result.nullTenantRows) {
    ctx.output.data(c.yellow(`  ${n.table}: ${n.rows} row(s) with a NULL tenant were not grouped (run \`crm-tenancy backfill\` first)`));
  }
  if (!result.dryRun) {
    ctx.output.data(
      `${result.removed} row(s) removed (archived), ${result.repointed} reference(s) re-pointed, ${result.refused.length} group(s) refused, ${result.conflicts.length} conflict(s) left as they are`,
    );
    if (result.runId && result.removed > 0) ctx.output.info(`undo with: crm-tenancy undo ${result.runId}`);
  }
}

const whereText = (where: string | undefined): string => (where === undefined ? '' : ` where ${where}`);
