// `crm-tenancy demo`: the whole story on an embedded PostgreSQL, removed afterwards (also on Ctrl-C).
import { rm } from 'node:fs/promises';
import { runDemo, type DemoResult } from '../../demo/demo.js';
import type { Overview } from '../../demo/overview.js';
import type { StoryStep } from '../../demo/story.js';
import { stopEmbeddedServers } from '../../embedded/embedded-server.js';
import { maskUrl } from '../../db/connection.js';
import { oneOf } from '../option-parsers.js';
import type { CommandContext } from '../context.js';
import type { Output } from '../output.js';
import { gridTable } from '../table-styles.js';

function renderOverview(output: Output, overview: Overview): string {
  const c = output.stdoutColor;
  const tenants = overview.tenants;
  const table = gridTable(['table', 'rows', ...tenants.map((t) => t.label), 'NULL tenant', 'tenant column'], output);
  for (const t of overview.tables) {
    table.push([
      t.table,
      String(t.rows),
      ...tenants.map((tenant) => String(t.perTenant[tenant.key] ?? (t.hasTenantColumn ? 0 : '-'))),
      t.nullTenants > 0 && t.hasTenantColumn ? c.red(String(t.nullTenants)) : String(t.hasTenantColumn ? 0 : '-'),
      t.hasTenantColumn ? 'yes' : c.red('missing'),
    ]);
  }
  return table.toString();
}

function renderSummary(output: Output, result: DemoResult, totalMs: number): string {
  const s = result.summary;
  const table = gridTable(['', 'before', 'after'], output);
  const f = (x: { error: number; warning: number; info: number }) => `${x.error} / ${x.warning} / ${x.info}`;
  table.push(
    ['audit findings (error / warning / info)', f(s.findingsBefore), f(s.findingsAfter)],
    ['tables with company_id', `${s.tablesWithTenantColumnBefore} / ${s.tables}`, `${s.tablesWithTenantColumnAfter} / ${s.tables}`],
    ['NULL tenants', String(s.nullTenantsBefore), String(s.nullTenantsAfter)],
    ['rows backfilled', '', String(s.rowsBackfilled)],
    ['cross-company references detached', '', String(s.referencesDetached)],
    ['duplicate rows archived (re-pointed)', '', `${s.rowsArchived} (${s.rowsRepointed})`],
    ['tables under row-level security', '0', String(s.policyTablesApplied)],
    ['isolation probes passed', '', `${s.probesPassed} (${s.probesFailed} failed)`],
  );
  const times = gridTable(['step', 'exit', 'seconds'], output);
  for (const step of result.steps) times.push([step.name, String(step.exitCode), (step.ms / 1000).toFixed(1)]);
  times.push(['total', '', (totalMs / 1000).toFixed(1)]);
  return `${table.toString()}\n${times.toString()}`;
}

export async function run(ctx: CommandContext, opts: { keep: boolean; sample: string }): Promise<number> {
  const sample = oneOf('--sample', opts.sample, ['crm', 'saas'] as const);
  const out = ctx.output;
  const c = out.stdoutColor;
  const started = Date.now();
  let step: string | undefined;
  let kept = false;
  ctx.interrupt.describe(() =>
    kept
      ? 'demo stopped: the embedded PostgreSQL is stopped and its data directory removed'
      : `demo stopped${step ? ` during "${step}"` : ''}: the embedded PostgreSQL is stopped and its data directory removed; ` +
        'run `crm-tenancy demo` again to start over',
  );
  // Also a server still starting (initdb running): its directory exists from the first moment.
  ctx.interrupt.onCleanup(() => stopEmbeddedServers());
  const result = await runDemo({
    keep: opts.keep,
    sample,
    logger: { info: () => {}, debug: () => {}, warn: () => {} },
    onWorkDir: (dir) => ctx.interrupt.onCleanup(() => rm(dir, { recursive: true, force: true })),
    onStep: ({ name, phase, result: r }: { name: string; phase: 'start' | 'end'; result?: StoryStep }) => {
      if (phase === 'start') {
        step = name;
        out.data(c.bold(`▶ ${name}`));
        return;
      }
      if (!r) return;
      const mark = r.exitCode === 0 ? c.green('✓') : c.yellow(`exit ${r.exitCode}`);
      out.data(`  ${mark} ${r.summary} ${c.dim(`(${(r.ms / 1000).toFixed(1)} s)`)}`);
      for (const line of r.details?.slice(0, 20) ?? []) out.data(`      ${line}`);
      if ((r.details?.length ?? 0) > 20) out.data(`      … ${r.details!.length - 20} more`);
    },
    onOverview: (label, overview) => {
      out.data(`\nThe ${sample === 'saas' ? 'SaaS sample' : 'sample CRM'}, ${label}:`);
      out.data(renderOverview(out, overview));
    },
  });
  const total = Date.now() - started;
  out.data(`\n${c.bold('Before and after')}`);
  out.data(renderSummary(out, result, total));
  if (result.kept) {
    kept = true;
    out.info(`the database is still running: psql "${maskUrl(result.databaseUrl)}" (password: ${result.server.password})`);
    out.info(`data directory ${result.server.dataDir}; Ctrl-C stops it and removes the directory`);
    // Keep the process (and the server) alive until Ctrl-C: the interrupt handler stops it and exits.
    await new Promise<void>(() => setInterval(() => {}, 1 << 30));
  }
  return result.verify.ok && result.auditAfter.exitCode === 0 ? 0 : 1;
}
