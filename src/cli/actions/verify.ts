// `crm-tenancy verify`: proves tenant isolation live as each application role; matrix on a TTY, JSON with --json.
import type { RoutingReport } from '../../citus/routing.js';
import { verifyIsolation, TABLE_PROBES, type ProbeStatus, type VerifyResult } from '../../verify/verify.js';
import type { CommandContext } from '../context.js';
import { oneOf, pair } from '../option-parsers.js';
import { withProgress } from '../progress.js';
import { listTable } from '../table-styles.js';

export interface VerifyCliOptions {
  json: boolean;
  tenants?: string;
  allowUnprobed?: boolean;
  target?: string;
}

const SHORT: Record<string, string> = {
  'select-own': 'select A',
  'select-no-tenant': 'no tenant',
  'insert-other-tenant': 'insert B',
  'update-to-other-tenant': 'A→B',
  'update-other-rows': 'update B',
  'delete-other-rows': 'delete B',
  'cross-tenant-reference': 'ref B',
  views: 'views',
  truncate: 'truncate',
  'alter-table': 'alter',
};

export async function run(ctx: CommandContext, opts: VerifyCliOptions): Promise<number> {
  ctx.interrupt.describe(() => 'verify stopped (every probe runs in a rolled-back transaction: nothing was changed); run it again');
  const tenants = opts.tenants === undefined ? undefined : pair('--tenants', opts.tenants, 'tenant keys');
  const target = oneOf('--target', opts.target ?? 'postgres', ['postgres', 'citus'] as const);
  const manifest = await ctx.loadManifest();
  const client = await ctx.connect();
  // Its probes write (then roll back): a standby would fail every one of them and read as leaks.
  await ctx.assertWritable('verify', client);
  const routingModule = target === 'citus' ? await import('../../citus/routing.js') : undefined;
  // Refused before any probe runs: the report needs a coordinator.
  if (routingModule) await routingModule.assertCitusCoordinator(client);
  const result = await withProgress(ctx.output, { json: opts.json, interrupt: ctx.interrupt }, (onProgress) =>
    verifyIsolation({ client, manifest, tenants, allowUnprobed: opts.allowUnprobed, logger: ctx.output.logger, onProgress }),
  );
  // --target citus: the citus-unrouted report (informational: it does not change the exit code).
  let routing: RoutingReport | undefined;
  if (routingModule) routing = await routingModule.citusRouting(client, { manifest, tenant: result.tenants.a });
  if (opts.json) ctx.output.data(JSON.stringify(routing ? { ...result, routing } : result, null, 2));
  else {
    render(ctx, result);
    if (routing) renderRouting(ctx, routing);
  }
  return result.ok ? 0 : 1;
}

function render(ctx: CommandContext, result: VerifyResult): void {
  const c = ctx.output.stdoutColor;
  const mark = (s: ProbeStatus) =>
    s === 'pass'
      ? c.green('pass')
      : s === 'fail' || s === 'error'
        ? c.red(s.toUpperCase())
        : s === 'reported' || s === 'unprobed'
          ? c.yellow(s)
          : c.dim(s);
  const tableProbes = new Set<string>(TABLE_PROBES);
  for (const role of result.roles) {
    const table = listTable([role, ...TABLE_PROBES.map((p) => SHORT[p])], ctx.output);
    for (const name of result.tables) {
      table.push([name, ...TABLE_PROBES.map((p) => mark(result.probes.find((r) => r.role === role && r.table === name && r.probe === p)!.status))]);
    }
    ctx.output.data(table.toString());
    for (const p of result.probes.filter((x) => x.role === role && !tableProbes.has(x.probe))) {
      ctx.output.data(`${p.probe} ${p.table} (${role}): ${mark(p.status)} ${p.detail}`);
    }
  }
  // One line per reported probe: the first 20, --verbose all (the matrix above shows each).
  const noted = result.probes.filter((x) => x.status === 'reported' && tableProbes.has(x.probe));
  for (const p of ctx.output.verbose ? noted : noted.slice(0, 20)) ctx.output.info(`reported: ${p.table} ${p.probe} (${p.role}): ${p.detail}`);
  if (!ctx.output.verbose && noted.length > 20) ctx.output.info(`… and ${noted.length - 20} more reported probes (--verbose lists them all)`);
  for (const u of result.unprobed) ctx.output.data(c.yellow(`NOT PROBED ${u.table} ${u.probe} (${u.role}): ${u.detail}`));
  for (const f of result.failures) ctx.output.data(c.red(`FAILED ${f.table} ${f.probe} (${f.role}): ${f.detail}`));
  ctx.output.info(
    `tenants A=${result.tenants.a} B=${result.tenants.b}, both ways: ${result.counts.pass} passed, ${result.failed} failed, ` +
      `${result.counts.unprobed} not probed, ${result.counts.reported} reported, ${result.counts['n/a']} n/a`,
  );
  if (result.unprobed.length > 0 && result.failures.length === 0) {
    ctx.output.info(
      result.ok
        ? 'what was not probed is accepted (--allow-unprobed)'
        : 'not everything could be probed: fix what is listed, or accept it with --allow-unprobed',
    );
  }
}

/** The citus-unrouted report: per table, shard tasks with and without the tenant in the WHERE clause. */
function renderRouting(ctx: CommandContext, routing: RoutingReport): void {
  const c = ctx.output.stdoutColor;
  const tasks = (n: number | null | undefined) => (n === null || n === undefined ? '-' : String(n));
  const table = listTable(['table', 'kind', `WHERE tenant = ${routing.tenant}`, 'no WHERE (policy only)', 'note'], ctx.output);
  for (const t of routing.tables) {
    const scoped = tasks(t.tenantScoped?.tasks);
    table.push([t.table, t.kind, t.unrouted ? c.red(scoped) : scoped, tasks(t.unfiltered?.tasks), t.note]);
  }
  ctx.output.data(`citus-unrouted: shard tasks per query, as ${routing.role} with tenant ${routing.tenant} set (EXPLAIN only)`);
  ctx.output.data(table.toString());
  ctx.output.info(
    routing.ok
      ? 'every distributed table routes a tenant-scoped query to one shard; queries without the tenant column in WHERE ask every shard'
      : `the tenant-scoped query fans out on: ${routing.unrouted.join(', ')}`,
  );
}
