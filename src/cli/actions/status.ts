// `crm-tenancy status`: one screen per database — each table's rollout step and the next command; --json for machines.
import Table from 'cli-table3';
import { ROLLOUT_STEPS, type RolloutStep } from '../../status/rollout-step.js';
import { rolloutStatus, type RolloutStatus } from '../../status/rollout-status.js';
import type { CommandContext } from '../context.js';
import { duration } from '../option-parsers.js';

export interface StatusCliOptions {
  migrationsDir: string;
  policiesDir: string;
  statementTimeout: string;
  json: boolean;
}

const LABEL: Record<RolloutStep, string> = {
  'missing-table': 'table missing',
  column: 'column',
  backfill: 'backfill',
  validate: 'validate',
  composite: 'composite keys',
  rls: 'RLS',
  policy: 'policy',
  done: 'done',
};

export async function run(ctx: CommandContext, opts: StatusCliOptions): Promise<number> {
  ctx.interrupt.describe(() => 'status stopped (it only reads: nothing was changed); run it again');
  const timeout = duration('--statement-timeout', opts.statementTimeout);
  const manifest = await ctx.loadManifest();
  const status = await rolloutStatus({
    databaseUrl: ctx.target.databaseUrl,
    manifest,
    migrationsDir: opts.migrationsDir,
    policiesDir: opts.policiesDir,
    config: ctx.options.config,
    statementTimeoutMs: timeout,
    logger: ctx.output.logger,
  });
  if (opts.json) ctx.output.data(JSON.stringify(status, null, 2));
  else render(ctx, status);
  return status.exitCode;
}

function render(ctx: CommandContext, s: RolloutStatus): void {
  const c = ctx.output.stdoutColor;
  const doneCount = s.summary.done;
  const counts = ROLLOUT_STEPS.filter((step) => step !== 'done' && s.summary[step] > 0).map((step) => `${s.summary[step]} at ${LABEL[step]}`);
  const lines: string[] = [];
  lines.push(
    `${s.done ? c.green('DONE') : c.yellow('IN PROGRESS')}  ${s.database} (schema ${s.schema}): ${doneCount}/${s.tables.length} tables done` +
      (counts.length ? ` · ${counts.join(' · ')}` : ''),
  );
  if (s.pendingMigrations.length > 0) lines.push(`pending migrations: ${s.pendingMigrations.join(', ')}`);
  // On a terminal only the description wraps to fit (a next command stays on one line, ready to
  // copy); piped, nothing wraps, so each table is one line for grep.
  const columns = process.stdout.isTTY ? process.stdout.columns : undefined;
  const widths = {
    table: Math.max(5, ...s.tables.map((t) => t.table.length + (t.kind === 'tenant' ? 9 : 0))) + 2,
    step: Math.max(4, ...s.tables.map((t) => LABEL[t.step].length + (t.waiting ? 1 : 0))) + 2,
    next: Math.max(4, ...s.tables.map((t) => (t.next ?? '').length)) + 2,
  };
  const detailWidth = columns ? Math.max(24, columns - widths.table - widths.step - widths.next - 5) : undefined;
  const table = new Table({
    head: ['table', 'step', 'what is missing', 'next'],
    style: { head: [], border: [], compact: true },
    ...(detailWidth ? { colWidths: [widths.table, widths.step, detailWidth, widths.next], wordWrap: true } : {}),
  });
  for (const t of s.tables) {
    const label = `${LABEL[t.step]}${t.waiting ? '*' : ''}`;
    const step = t.step === 'done' ? c.green(label) : t.step === 'missing-table' ? c.red(label) : c.yellow(label);
    table.push([t.kind === 'tenant' ? `${t.table} (tenant)` : t.table, step, t.detail, t.next ?? '']);
  }
  lines.push(table.toString());
  for (const note of s.notes) lines.push(`* ${note}`);
  if (s.next) lines.push(`next: ${s.next}`);
  ctx.output.data(lines.join('\n'));
}
