// The `generate` command: writes the migration files (and policy files) the manifest still needs.
import type { Command } from 'commander';
import { generateMigrations } from '../../migrate/generate.js';
import { action } from '../context.js';

interface GenerateCliOptions {
  migrationsDir: string;
  policiesDir: string;
  force: boolean;
  json: boolean;
}

export function register(program: Command): void {
  program
    .command('generate')
    .description('compare the manifest with the live database and write reviewable migration and policy files')
    .option('--migrations-dir <dir>', 'where the node-pg-migrate SQL files go', 'migrations')
    .option('--policies-dir <dir>', 'where the policy files go', 'policies')
    .option('--force', 'overwrite policy files you edited', false)
    .option('--json', 'print the result as JSON on stdout', false)
    .addHelpText(
      'after',
      `
Writes one file per phase that has work (expand, index, validate, composite), numbered after the
files already in --migrations-dir. Files not yet run are taken into account: running generate twice
writes nothing new. Review the files, commit them, then run \`crm-tenancy migrate\`.

Examples:
  $ crm-tenancy generate --database-url postgres://dba@db/sales_crm
  $ crm-tenancy generate --migrations-dir db/migrations --policies-dir db/policies --json`,
    )
    .action(
      action(
        async (ctx, opts: GenerateCliOptions) => {
          const manifest = await ctx.loadManifest();
          const result = await generateMigrations({
            databaseUrl: ctx.options.databaseUrl,
            manifest,
            migrationsDir: opts.migrationsDir,
            policiesDir: opts.policiesDir,
            force: opts.force,
          });
          if (opts.json) {
            const { steps: _steps, ...rest } = result;
            ctx.output.data(JSON.stringify(rest, null, 2));
            return 0;
          }
          for (const skip of result.skipped) ctx.output.warn(`${skip.table}: skipped — ${skip.reason}`);
          if (result.pending.length > 0) {
            ctx.output.info(`not yet run, so not generated again: ${result.pending.join(', ')}`);
          }
          if (result.files.length === 0) {
            ctx.output.info('migrations: nothing to generate — the database (plus pending files) already has what the manifest asks');
          }
          for (const f of result.files) {
            ctx.output.info(`wrote ${f.file} (${f.phase}): ${f.steps.length} step${f.steps.length === 1 ? '' : 's'} on ${f.tables.length} table${f.tables.length === 1 ? '' : 's'}`);
          }
          const counts = new Map<string, number>();
          for (const p of result.policyFiles) counts.set(p.status, (counts.get(p.status) ?? 0) + 1);
          if (result.policyFiles.length > 0) {
            ctx.output.info(`policy files in ${opts.policiesDir}: ${[...counts].map(([s, n]) => `${n} ${s}`).join(', ')}`);
            for (const p of result.policyFiles.filter((x) => x.status === 'skipped-edited')) {
              ctx.output.warn(`${p.file}: you edited it, so it was left alone (pass --force to overwrite)`);
            }
          } else {
            ctx.output.info('policy files: none written');
          }
          if (result.files.length > 0) ctx.output.info('next: review and commit the files, then run `crm-tenancy migrate`');
          return 0;
        },
        { quiet: ([opts]) => Boolean(opts.json) },
      ),
    );
}
