// The `generate` command: writes the migration files (and policy files) the manifest still needs.
import type { Command } from 'commander';
import { generateMigrations } from '../../migrate/generate.js';
import { action } from '../context.js';

interface GenerateCliOptions {
  migrationsDir: string;
  policiesDir: string;
  force: boolean;
  check: boolean;
  json: boolean;
}

export function register(program: Command): void {
  program
    .command('generate')
    .description('compare the manifest with the live database and write reviewable migration and policy files')
    .option('--migrations-dir <dir>', 'where the node-pg-migrate SQL files go', 'migrations')
    .option('--policies-dir <dir>', 'where the policy files go', 'policies')
    .option('--force', 'overwrite policy files you edited', false)
    .option('--check', 'write nothing; exit 1 when files would change, 0 when they are in sync (for CI)', false)
    .option('--json', 'print the result as JSON on stdout', false)
    .addHelpText(
      'after',
      `
Writes one file per phase that has work (expand, index, validate, composite), numbered after the
files already in --migrations-dir. A generated file not yet run is rewritten when the manifest or the
database changed (removed when none of it is needed any more); a file already run is never touched; a
file not yet run that you edited (its checksum line no longer matches) is kept, and named in a warning.
Running generate twice writes nothing new. Review the files, commit them, then run \`crm-tenancy migrate\`.

Exit codes: 0 done (with --check: files in sync); 1 with --check: files would change (nothing written);
2 could not run.

Examples:
  $ crm-tenancy generate --database-url postgres://dba@db/sales_crm
  $ crm-tenancy generate --migrations-dir db/migrations --policies-dir db/policies --json
  $ crm-tenancy generate --check`,
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
            check: opts.check,
          });
          const exitCode = opts.check && result.changed ? 1 : 0;
          if (opts.json) {
            const { steps: _steps, ...rest } = result;
            ctx.output.data(JSON.stringify(rest, null, 2));
            return exitCode;
          }
          for (const skip of result.skipped) ctx.output.warn(`${skip.table}: skipped — ${skip.reason}`);
          for (const file of result.edited) {
            ctx.output.warn(`${file}: not yet run and edited by hand (its checksum line no longer matches, or it has none), so kept as it is; its steps are not generated again (delete it to regenerate)`);
          }
          if (result.unchanged.length > 0) ctx.output.info(`not yet run, already up to date: ${result.unchanged.join(', ')}`);
          if (result.files.length === 0 && result.removed.length === 0) {
            ctx.output.info('migrations: nothing to generate — the database (plus pending files) already has what the manifest asks');
          }
          for (const f of result.files) {
            const verb = opts.check ? `would ${f.status === 'rewritten' ? 'rewrite' : 'write'}` : f.status === 'rewritten' ? 'rewrote' : 'wrote';
            ctx.output.info(`${verb} ${f.file} (${f.phase}): ${f.steps.length} step${f.steps.length === 1 ? '' : 's'} on ${f.tables.length} table${f.tables.length === 1 ? '' : 's'}`);
          }
          for (const file of result.removed) ctx.output.info(`${opts.check ? 'would remove' : 'removed'} ${file} (not yet run, nothing of it is needed any more)`);
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
          if (opts.check) {
            ctx.output.info(result.changed ? 'check: files would change (nothing written); run `crm-tenancy generate`' : 'check: files in sync');
            return exitCode;
          }
          if (result.files.length > 0) ctx.output.info('next: review and commit the files, then run `crm-tenancy migrate`');
          return 0;
        },
        { quiet: ([opts]) => Boolean(opts.json) },
      ),
    );
}
