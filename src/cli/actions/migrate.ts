// `crm-tenancy migrate`: up, down, status, restore — online, under lock_timeout, behind an advisory lock.
import { remediesText } from '../../migrate/remedies.js';
import Table from 'cli-table3';
import { TenancyError } from '../../errors.js';
import { describeProblem, runMigrate, type MigrateResult } from '../../migrate/runner.js';
import { readMigrationsToRun } from '../../migrate/migration-file.js';
import { readMigrationDir } from '../../migrate/migration-file.js';
import { restoreArchivedTenants, restoreFlow, unrestoredRuns, upCountToReAdd } from '../../migrate/restore.js';
import { migrationStatus, type MigrationStatus, type StepState } from '../../migrate/status.js';
import { tapInfo, type CommandContext } from '../context.js';
import type { ProgressLog } from '../interrupt.js';
import { duration, optionalDuration, optionalWholeNumber, wholeNumber } from '../option-parsers.js';
import { withProgress } from '../progress.js';
import { listTable } from '../table-styles.js';

export interface MigrateCliOptions {
  migrationsDir: string;
  dryRun: boolean;
  lockTimeout: string;
  statementTimeout?: string;
  retries: string;
  count?: string;
  force: boolean;
  json: boolean;
}

export async function run(ctx: CommandContext, verb: string, runId: string | undefined, opts: MigrateCliOptions): Promise<number> {
  if (!['up', 'down', 'status', 'restore'].includes(verb)) {
    throw new TenancyError('usage', `unknown migrate action ${verb}`, { hint: 'use up, down, status or restore RUN_ID' });
  }
  const manifest = await ctx.loadManifest();
  if (verb === 'restore') {
    if (!runId) throw new TenancyError('usage', 'migrate restore needs the run id that `migrate down --force` printed');
    ctx.interrupt.describe(() => `migrate restore ${runId} stopped (one transaction: rolled back); run it again`);
    await ctx.assertWritable('migrate restore');
    const restored = await restoreArchivedTenants({ databaseUrl: ctx.options.databaseUrl, manifest, runId, migrationsDir: opts.migrationsDir });
    if (opts.json) ctx.output.data(JSON.stringify({ runId, restored }, null, 2));
    for (const r of restored) {
      ctx.output.info(`${r.table}.${r.column}: ${r.rows} value(s) restored${r.missing ? `, ${r.missing} row(s) no longer exist` : ''}`);
    }
    ctx.output.info(`next: ${restoreFlow(0, [], opts.migrationsDir)} (the phases that need the values)`);
    return 0;
  }
  if (runId !== undefined) throw new TenancyError('usage', `unexpected argument ${runId}`);
  if (verb === 'status') {
    ctx.interrupt.describe(() => 'migrate status stopped (it only reads); run it again');
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
  const direction = verb as 'up' | 'down';
  // The file in progress, from the runner's `applying FILE` / `reverting FILE` line.
  let current: string | undefined;
  const logger = tapInfo(ctx.output.logger, (message) => {
    current = /^(?:applying|reverting) (\S+) \(/.exec(message)?.[1] ?? current;
  });
  if (opts.dryRun) ctx.interrupt.describe(() => 'migrate --dry-run stopped (nothing was changed); run it again');
  else {
    ctx.interrupt.describe((progress) => describeInterruptedMigrate(direction, current, progress));
    // A missing or empty --migrations-dir is exit 2 before connecting, as runMigrate would say.
    await readMigrationsToRun(opts.migrationsDir);
    await ctx.assertWritable(`migrate ${direction}`);
  }
  const result: MigrateResult = await withProgress(ctx.output, { json: opts.json, interrupt: ctx.interrupt }, (onProgress) =>
    runMigrate({
      databaseUrl: ctx.options.databaseUrl,
      manifest,
      migrationsDir: opts.migrationsDir,
      direction,
      dryRun: opts.dryRun,
      ...limits,
      force: opts.force,
      logger,
      onProgress,
    }),
  );
  // What puts archived values back (down --force), or values still waiting in an archive (a refused up).
  let restore: string | undefined;
  if (result.archived.length > 0) {
    const files = await readMigrationDir(opts.migrationsDir);
    const applied = files.filter((f) => !result.pending.includes(f.name)).map((f) => f.name);
    const columns = result.archived.map((a) => ({ schema: manifest.schema, table: a.table, column: a.column }));
    restore = restoreFlow(upCountToReAdd(files, applied, columns), [...new Set(result.archived.map((a) => a.runId))], opts.migrationsDir);
  } else if (direction === 'up' && result.refused.length > 0) {
    const waiting = await unrestoredRuns({ databaseUrl: ctx.options.databaseUrl, manifest });
    if (waiting.length > 0) restore = restoreFlow(0, waiting, opts.migrationsDir);
  }
  if (opts.json) {
    // Each refusal keeps its remedies as data and gets `fix`, their wording, for a person reading the JSON.
    const refused = result.refused.map((r) => ({ ...r, fix: remediesText(r.remedies) }));
    ctx.output.data(JSON.stringify({ ...result, refused, ...(restore ? { restore } : {}) }, null, 2));
    return result.exitCode;
  }
  if (result.sql !== undefined) ctx.output.data(result.sql);
  renderResult(ctx, result, restore);
  return result.exitCode;
}

/**
 * The Ctrl-C line: which file was in progress (its unfinished statement was rolled back by the
 * server, and the file is marked run only after its last statement, so the rerun runs it again).
 */
export function describeInterruptedMigrate(direction: 'up' | 'down', current: string | undefined, progress: ProgressLog): string {
  const rerun = `rerun \`crm-tenancy migrate${direction === 'down' ? ' down' : ''}\``;
  if (current === undefined) return `migrate ${direction} stopped before any migration ran; ${rerun}`;
  const events = [...progress.values()];
  const file = events.filter((e) => e.kind === 'migrate-file' && e.task === current).at(-1);
  if (file && file.total !== undefined && file.done >= file.total) {
    return `migrate ${direction} stopped after ${current}; ${rerun} to continue`;
  }
  const indexBuild = /index/i.test(current) || events.some((e) => e.kind === 'index-build');
  return (
    `migrate ${direction} stopped during ${current}; ${rerun}` +
    (indexBuild ? ' (an INVALID index left by the interrupted build is dropped and rebuilt)' : ' (the file runs again from its start)')
  );
}

function renderResult(ctx: CommandContext, r: MigrateResult, restore: string | undefined): void {
  const { color } = ctx.output;
  if (r.dryRun) {
    ctx.output.info(r.applied.length === 0 ? 'dry run: nothing to run' : `dry run: ${r.applied.length} migration(s) would run; nothing was changed`);
    return;
  }
  for (const a of r.archived) ctx.output.info(`${a.table}.${a.column}: ${a.rows} value(s) archived (run ${a.runId})`);
  if (r.archived.length > 0 && restore) ctx.output.info(`put them back with: ${restore}`);
  for (const a of r.applied) {
    ctx.output.info(`${r.direction === 'up' ? 'applied' : 'reverted'} ${a.name} in ${(a.ms / 1000).toFixed(1)} s${a.retries ? ` (${a.retries} lock_timeout retr${a.retries === 1 ? 'y' : 'ies'})` : ''}`);
  }
  if (r.refused.length > 0) {
    const rows = r.refused.map((x) => [x.table, describeProblem(x).replace(/^row\(s\) /, ''), String(x.count), remediesText(x.remedies)]);
    const table = refusalTable(ctx, rows);
    for (const row of rows) table.push(row);
    ctx.output.warn(
      r.direction === 'up'
        ? `refused: the ${r.pending.length ? 'validate/composite phase' : 'next phase'} would fail on these rows; fix them, then run migrate again`
        : 'refused: down would drop tenant values',
    );
    ctx.output.stderr.write(`${table.toString()}\n`);
    if (r.direction === 'up' && restore) {
      ctx.output.warn(`tenant values archived by \`migrate down --force\` are not restored yet; if these NULLs are theirs: ${restore}`);
    }
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
