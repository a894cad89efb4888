// The `verify` command: proves tenant isolation live as each application role; matrix on a TTY, JSON with --json.
import type { Command } from 'commander';
import { verifyIsolation, TABLE_PROBES, type ProbeStatus, type VerifyResult } from '../../verify/verify.js';
import { action, type CommandContext } from '../context.js';
import { pair } from '../option-parsers.js';
import { withProgress } from '../progress.js';
import { listTable } from '../table-styles.js';

interface VerifyCliOptions {
  json: boolean;
  tenants?: string;
  allowUnprobed: boolean;
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

export function register(program: Command): void {
  program
    .command('verify')
    .description('prove tenant isolation on the live database, as each application role (every probe rolled back)')
    .option('--json', 'print the result as JSON', false)
    .option('--tenants <A,B>', 'the two tenant keys to probe with (default: the two with the most rows)')
    .option('--allow-unprobed', 'list what could not be probed without failing on it', false)
    .addHelpText(
      'after',
      `
Probes, per application role and table, run both ways (A set against B, then B set against A):
  select A   SELECT sees exactly A's rows (the count read as owner)
  no tenant  no tenant set: zero rows and no error
  insert B   INSERT of a row for tenant B is rejected
  A→B        UPDATE moving an A row to tenant B moves nothing (the UPDATE policy itself is tested)
  update B   UPDATE of a B row (into A) affects zero rows
  delete B   DELETE of a B row affects zero rows
  ref B      an A row referencing B's parent: rejected with composite keys, else reported
  views      views over the table the role can read show no B rows
  truncate   TRUNCATE is refused (it ignores row-level security)
  alter      ALTER TABLE … NO FORCE ROW LEVEL SECURITY is refused (the role owns nothing)
Per application role:
  definer-function        no SECURITY DEFINER function or trigger it can reach, unless in definer_functions
  tenant-setting-default  no role/database default for the tenant setting; a fresh login sees it unset
  unprotected-table       every other table it can read with the tenant column (or below a scoped table)
                          has row-level security enabled and forced
  state-schema            the bookkeeping schema is not readable
  role-membership         it cannot SET ROLE to a superuser, a BYPASSRLS role or a scoped table's owner
Rows a probe needs are made inside its rolled-back transaction (parents included).
Connect as a superuser or BYPASSRLS role that can SET ROLE to the application roles.
Exit 1 on any failure, naming the table and the probe, and when something could not be probed
(listed; --allow-unprobed accepts that). Exit 2 on a read-only (hot standby) server.

Examples:
  $ crm-tenancy verify
  $ crm-tenancy verify --tenants 1,2 --json`,
    )
    .action(
      action(
        async (ctx, opts: VerifyCliOptions) => {
          const tenants = opts.tenants === undefined ? undefined : pair('--tenants', opts.tenants, 'tenant keys');
          const manifest = await ctx.loadManifest();
          const client = await ctx.connect();
          const result = await withProgress(ctx.output, { json: opts.json }, (onProgress) =>
            verifyIsolation({ client, manifest, tenants, allowUnprobed: opts.allowUnprobed, logger: ctx.output.logger, onProgress }),
          );
          if (opts.json) ctx.output.data(JSON.stringify(result, null, 2));
          else render(ctx, result);
          return result.ok ? 0 : 1;
        },
        { quiet: ([opts]) => (opts as VerifyCliOptions).json },
      ),
    );
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
  for (const p of result.probes.filter((x) => x.status === 'reported' && tableProbes.has(x.probe))) {
    ctx.output.info(`reported: ${p.table} ${p.probe} (${p.role}): ${p.detail}`);
  }
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
