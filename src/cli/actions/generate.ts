// `crm-tenancy generate`: writes the migration files (and policy files) the manifest still needs.
import { generateMigrations } from '../../migrate/generate.js';
import type { CommandContext } from '../context.js';

export interface GenerateCliOptions {
  migrationsDir: string;
  policiesDir: string;
  force: boolean;
  json: boolean;
}

export async function run(ctx: CommandContext, opts: GenerateCliOptions): Promise<number> {
  ctx.interrupt.describe(() => 'generate stopped (the database was not changed); run it again: it writes only what is still missing');
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
}
