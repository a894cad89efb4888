// The `demo` command: the whole story on an embedded PostgreSQL, cleaned up afterwards.
import type { Command } from 'commander';
import Table from 'cli-table3';
import { runDemo } from '../../demo/demo.js';
import type { Overview } from '../../demo/overview.js';
import type { EmbeddedServer } from '../../embedded/embedded-server.js';
import { maskUrl } from '../../db/connection.js';
import { action } from '../context.js';
import type { Output } from '../output.js';

function renderOverview(output: Output, overview: Overview): string {
  const c = output.stdoutColor;
  const tenants = overview.tenants;
  const table = new Table({
    head: ['table', 'rows', ...tenants.map((t) => t.label), 'NULL tenant', 'tenant column'],
    style: { head: c.level > 0 ? ['cyan'] : [], border: [] },
  });
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

export function register(program: Command): void {
  program
    .command('demo')
    .description('run the whole story on an embedded PostgreSQL loaded with the sample CRM')
    .option('--keep', 'leave the database running and print how to connect', false)
    .addHelpText('after', '\nExample:\n  $ npx crm-tenancy demo')
    .action(
      action(async (ctx, opts: { keep: boolean }) => {
        const out = ctx.output;
        let server: EmbeddedServer | undefined;
        const onSignal = () => {
          out.warn('interrupted: stopping the embedded PostgreSQL');
          void (server?.stop() ?? Promise.resolve()).finally(() => process.exit(130));
        };
        process.once('SIGINT', onSignal);
        process.once('SIGTERM', onSignal);
        try {
          const result = await runDemo({
            keep: opts.keep,
            onServer: (s) => (server = s),
            onStep: ({ name, phase, result: r }: { name: string; phase: 'start' | 'end'; result?: { summary: string; ms: number } }) => {
              const c = out.stdoutColor;
              if (phase === 'start') out.data(c.bold(`▶ ${name}`));
              else if (r) out.data(`  ${r.summary} ${c.dim(`(${(r.ms / 1000).toFixed(1)} s)`)}`);
            },
            onOverview: (label, overview) => {
              out.data(`\nThe sample CRM, ${label}:`);
              out.data(renderOverview(out, overview));
            },
          });
          const total = result.steps.reduce((n, s) => n + s.ms, 0);
          out.data(`\ndone in ${(total / 1000).toFixed(1)} s`);
          if (result.kept) {
            out.info(`the database is still running: psql "${maskUrl(result.databaseUrl)}" (password: ${result.server.password})`);
            out.info(`data directory ${result.server.dataDir}; stop it with Ctrl-C`);
            // Keep the process (and the server) alive until Ctrl-C.
            await new Promise<void>(() => setInterval(() => {}, 1 << 30));
          }
          return 0;
        } finally {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
        }
      }),
    );
}
