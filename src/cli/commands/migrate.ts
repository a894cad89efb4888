// The `migrate` command: up (default), down, status — online, under lock_timeout, behind an advisory lock.
import Table from 'cli-table3';
import type { Command } from 'commander';
import { TenancyError } from '../../errors.js';
import { describeProblem, runMigrate, type MigrateResult } from '../../migrate/runner.js';
import { restoreArchivedTenants } from '../../migrate/restore.js';
import { migrationStatus, type MigrationStatus, type StepState } from '../../migrate/status.js';
import { action, type CommandContext } from '../context.js';
import { duration, optionalDuration, optionalWholeNumber, wholeNumber } from '../option-parsers.js';
import { withProgress } from '../progress.js';
import { listTable } from '../table-styles.js';

interface MigrateCliOptions {
  migrationsDir: string;
  dryRun: boolean;
  lockTimeout: string;
  statementTimeout?: string;
  retries: string;
  count?: string;
  force: boolean;
  json: boolean;
}

export function register(program: Command): void {
  program
    .command('migrate')
    .description('run the generated migrations online (up), revert them (down) or show the rollout (status)')
    .argument('[action]', 'up, down, status, or restore RUN_ID (values archived by down --force)', 'up')
    .argument('[run-id]', 'restore: the run id `migrate down --force` printed')
    .option('--migrations-dir <dir>', 'the migration files', 'migrations')
    .option('--dry-run', 'print the exact SQL that would run; change nothing', false)
    .option('--lock-timeout <ms>', 'lock_timeout of every statement', '1000')
    .option('--statement-timeout <ms>', 'statement_timeout of every statement (default: the file\'s, 30 min)')
    .option('--retries <n>', 'retries of a statement that hit lock_timeout (exponential backoff with jitter)', '10')
    .option('--count <n>', 'down: how many migrations to revert (default 1); up: how many to apply')
    .option('--force', 'down: drop tenant columns that hold values (archived first)', false)
    .option('--json', 'print the result as JSON on stdout', false)
    .addHelpText(
      'after',
      `
Exit codes: 0 done; 1 refused (NULL tenants, duplicates, cross-tenant references, tenant values on
down) or a lock never obtained; 2 could not run (another migrate holds the lock, connection…).

Examples:
  $ crm-tenancy migrate --dry-run
  $ crm-tenancy migrate --lock-timeout 500 --retries 20
  $ crm-tenancy migrate status --json
  $ crm-tenancy migrate down --count 4 --force
  $ crm-tenancy migrate up && crm-tenancy migrate restore migrate-down-20261128T101500-3fa9`,
    )
    .action(
      action(
        async (ctx, verb: string, runId: string | undefined, opts: MigrateCliOptions) => {
          if (!['up', 'down', 'status', 'restore'].includes(verb)) {
            throw new TenancyError('usage', `unknown migrate action ${verb}`, { hint: 'use up, down, status or restore RUN_ID' });
          }
          const manifest = await ctx.loadManifest();
          if (verb === 'restore') {
            if (!runId) throw new TenancyError('usage', 'migrate restore needs the run id that `migrate down --force` printed');
            const restored = await restoreArchivedTenants({ databaseUrl: ctx.options.databaseUrl, manifest, runId });
            if (opts.json) ctx.output.data(JSON.stringify({ runId, restored }, null, 2));
            for (const r of restored) {
              ctx.output.info(`${r.table}.${r.column}: ${r.rows} value(s) restored${r.missing ? `, ${r.missing} row(s) no longer exist` : ''}`);
            }
            return 0;
          }
          if (runId !== undefined) throw new TenancyError('usage', `unexpected argument ${runId}`);
          if (verb === 'status') {
            const status = await migrationStatus({ databaseUrl: ctx.options.databaseUrl, manifest, migrationsDir: opts.migrationsDir });
            if (opts.json) ctx.output.data(JSON.stringify(status, null, 2));
            else renderStatus(ctx, status);
            return 0;
          }
          const limits = {
            lockTimeoutMs: duration('--lock-timeout', opts.lockTimeout, 1),
            statementTimeoutMs: optionalDuration('--statement-timeout', opts.statementTimeout),
            retries: wholeNumber('--retries', opts.retries),
            count: optionalWholeNumber('--count', opts.count, 1),
          };
          const result: MigrateResult = await withProgress(ctx.output, { json: opts.json }, (onProgress) =>
            runMigrate({
              databaseUrl: ctx.options.databaseUrl,
              manifest,
              migrationsDir: opts.migrationsDir,
              direction: verb as 'up' | 'down',
              dryRun: opts.dryRun,
              ...limits,
              force: opts.force,
              logger: ctx.output.logger,
              onProgress,
            }),
          );
          if (opts.json) {
            ctx.output.data(JSON.stringify(result, null, 2));
            return result.exitCode;
          }
          if (result.sql !== undefined) ctx.output.data(result.sql);
          renderResult(ctx, result);
          return result.exitCode;
        },
        { quiet: ([, , opts]) => Boolean(opts.json) },
      ),
    );
}

function renderResult(ctx: CommandContext, r: MigrateResult): void {
  const { color } = ctx.output;
  if (r.dryRun) {
    ctx.output.info(r.applied.length === 0 ? 'dry run: nothing to run' : `dry run: ${r.applied.length} migration(s) would run; nothing was changed`);
    return;
  }
  for (const a of r.archived) {
    ctx.output.info(`${a.table}.${a.column}: ${a.rows} value(s) archived — put them back after \`migrate up\` with: crm-tenancy migrate restore ${a.runId}`);
  }
  for (const a of r.applied) {
    ctx.output.info(`${r.direction === 'up' ? 'applied' : 'reverted'} ${a.name} in ${(a.ms / 1000).toFixed(1)} s${a.retries ? ` (${a.retries} lock_timeout retr${a.retries === 1 ? 'y' : 'ies'})` : ''}`);
  }
  if (r.refused.length > 0) {
    const rows = r.refused.map((x) => [x.table, describeProblem(x).replace(/^row\(s\) /, ''), String(x.count), x.fix]);
    const table = refusalTable(ctx, rows);
    for (const row of rows) table.push(row);
    ctx.output.warn(
      r.direction === 'up'
        ? `refused: the ${r.pending.length ? 'validate/composite phase' : 'next phase'} would fail on these rows; fix them, then run migrate again`
        : 'refused: down would drop tenant values',
    );
    ctx.output.stderr.write(`${table.toString()}\n`);
    return;
  }
  if (r.direction === 'up') {
    ctx.output.info(r.applied.length === 0 ? 'nothing to migrate: every migration has run' : color.green('migrations complete'));
  }
}

/** The refusal table's width: it fits a 120-column terminal, long cells wrapped. */
const REFUSAL_WIDTH = 120;

/**
 * A list table whose columns add up to at most REFUSAL_WIDTH: table and problem keep their width up
 * to a cap, the fix takes the rest; cells wrap at word boundaries (a long word is cut).
 */
function refusalTable(ctx: CommandContext, rows: string[][]): Table.Table {
  const head = ['table', 'problem', 'rows', 'fix'];
  const widest = (i: number) => Math.max(head[i].length, ...rows.map((r) => r[i].length)) + 2;
  const widths = [Math.min(widest(0), 26), Math.min(widest(1), 40), widest(2)];
  const fix = Math.min(widest(3), REFUSAL_WIDTH - (head.length + 1) - widths.reduce((a, b) => a + b, 0));
  return new Table({
    head,
    colWidths: [...widths, fix],
    wordWrap: true,
    wrapOnWordBoundary: true,
    style: { head: ctx.output.stdoutColor.level > 0 ? ['cyan'] : [], border: [], compact: true },
  });
}

const mark = (v: StepState): string => (v === null ? '–' : v ? '✓' : '✗');

function renderStatus(ctx: CommandContext, s: MigrationStatus): void {
  const table = listTable(['table', 'column', 'FK', 'FK valid', 'index', 'NOT NULL', 'unique', 'composite', 'RLS', 'policies'], ctx.output);
  for (const t of s.tables) {
    table.push([
      t.exists ? t.table : `${t.table} (missing)`,
      ...[t.column, t.fk, t.fkValidated, t.index, t.notNull, t.uniqueKeys, t.compositeKeys, t.rls, t.policies].map(mark),
    ]);
  }
  ctx.output.data(table.toString());
  const files = listTable(['migration', 'phase', 'state'], ctx.output);
  for (const m of s.migrations) files.push([m.name, m.phase ?? '', m.applied ? 'applied' : 'pending']);
  if (s.migrations.length > 0) ctx.output.data(files.toString());
  else ctx.output.data('no migration files (run `crm-tenancy generate`)');
}
