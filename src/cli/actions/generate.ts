// `crm-tenancy generate`: writes the migration files (and policy files) the manifest still needs.
import { generateMigrations } from '../../migrate/generate.js';
import type { CommandContext } from '../context.js';
import { oneOf } from '../option-parsers.js';

export interface GenerateCliOptions {
  migrationsDir: string;
  policiesDir: string;
  force: boolean;
  check: boolean;
  json: boolean;
  target?: string;
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
    check: opts.check,
    ...(opts.target !== undefined ? { target: oneOf('--target', opts.target, ['citus'] as const) } : {}),
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
}
