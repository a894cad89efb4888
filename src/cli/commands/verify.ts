// The `verify` command: proves tenant isolation live as each application role; matrix on a TTY, JSON with --json.
import type { Command } from 'commander';
import { verifyIsolation, PROBES, type ProbeStatus } from '../../verify/verify.js';
import { action } from '../context.js';
import { pair } from '../option-parsers.js';
import { withProgress } from '../progress.js';
import { listTable } from '../table-styles.js';

interface VerifyCliOptions {
  json: boolean;
  tenants?: string;
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
};

export function register(program: Command): void {
  program
    .command('verify')
    .description('prove tenant isolation on the live database, as each application role (every probe rolled back)')
    .option('--json', 'print the result as JSON', false)
    .option('--tenants <A,B>', 'the two tenant keys to probe with (default: the two with the most rows)')
    .addHelpText(
      'after',
      `
Probes, per application role and table (tenant A set unless said otherwise):
  select A   SELECT sees exactly A's rows (the count read as owner)
  no tenant  no tenant set: zero rows and no error
  insert B   INSERT of a row for tenant B is rejected
  A→B        UPDATE of an A row to tenant B is rejected
  update B   UPDATE of B's rows affects zero rows
  delete B   DELETE of B's rows affects zero rows
  ref B      an A row referencing B's parent: rejected with composite keys, else reported
  views      views over the table the role can read show no B rows
Connect as a superuser or BYPASSRLS role that can SET ROLE to the application roles.
Exit 1 on any failure, naming the table and the probe.

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
            verifyIsolation({ client, manifest, tenants, logger: ctx.output.logger, onProgress }),
          );
          if (opts.json) {
            ctx.output.data(JSON.stringify(result, null, 2));
          } else {
            const c = ctx.output.stdoutColor;
            const mark = (s: ProbeStatus) =>
              s === 'pass' ? c.green('pass') : s === 'fail' || s === 'error' ? c.red(s.toUpperCase()) : s === 'reported' ? c.yellow('reported') : c.dim(s);
            for (const role of result.roles) {
              const table = listTable([role, ...PROBES.map((p) => SHORT[p])], ctx.output);
              for (const name of result.tables) {
                table.push([name, ...PROBES.map((p) => mark(result.probes.find((r) => r.role === role && r.table === name && r.probe === p)!.status))]);
              }
              ctx.output.data(table.toString());
            }
            for (const f of result.functions) ctx.output.data(`function ${f.function} as ${f.role}: ${mark(f.status)} ${f.detail}`);
            for (const p of result.probes.filter((x) => x.status === 'reported' || x.status === 'skipped')) {
              ctx.output.info(`${p.status}: ${p.table} ${p.probe} (${p.role}): ${p.detail}`);
            }
            for (const f of result.failures) ctx.output.data(c.red(`FAILED ${f.table} ${f.probe} (${f.role}): ${f.detail}`));
            ctx.output.info(
              `tenants A=${result.tenants.a} B=${result.tenants.b}: ${result.counts.pass} passed, ${result.failed} failed, ` +
                `${result.counts.reported} reported, ${result.counts.skipped} skipped, ${result.counts['n/a']} n/a`,
            );
          }
          return result.ok ? 0 : 1;
        },
        { quiet: ([opts]) => (opts as VerifyCliOptions).json },
      ),
    );
}
