// `crm-tenancy policies apply | diff | status`: row-level security from the policy files.
import { applyPolicies, policyDiff, policyStatus, DEFAULT_POLICY_LOCK_TIMEOUT_MS } from '../../policies/apply.js';
import type { CommandContext } from '../context.js';
import { duration } from '../option-parsers.js';
import { listTable } from '../table-styles.js';

export interface PoliciesOptions {
  policiesDir: string;
  lockTimeout?: string;
  dryRun?: boolean;
  force?: boolean;
  json: boolean;
}

const lockTimeout = (value: string | undefined): number =>
  value === undefined ? DEFAULT_POLICY_LOCK_TIMEOUT_MS : duration('--lock-timeout', value);

const short = (checksum: string | null) => (checksum ? checksum.slice(0, 12) : '—');

export async function apply(ctx: CommandContext, opts: PoliciesOptions): Promise<number> {
  ctx.interrupt.describe(() =>
    opts.dryRun
      ? 'policies apply --dry-run stopped (nothing was changed); run it again'
      : 'policies apply stopped: each table is its own transaction — the tables applied so far keep their policies, the one in progress was rolled back; run it again to apply the rest',
  );
  const manifest = await ctx.loadManifest();
  const client = await ctx.connect();
  if (!opts.dryRun) await ctx.assertWritable('policies apply', client);
  const result = await applyPolicies({
    client,
    manifest,
    policiesDir: opts.policiesDir,
    lockTimeoutMs: lockTimeout(opts.lockTimeout),
    dryRun: opts.dryRun,
    force: opts.force,
    logger: ctx.output.logger,
  });
  if (opts.json) {
    ctx.output.data(JSON.stringify(result, null, 2));
    return result.ok ? 0 : 1;
  }
  for (const r of result.refusals) {
    ctx.output.warn(`refused: ${r.detail}\n  run instead: ${r.remedy}`);
  }
  for (const p of result.preflight) {
    ctx.output.warn(`not ready: ${p.detail}\n  run first: ${p.commands.join(' && ')}`);
  }
  if (result.preflight.length > 0 && !opts.force) {
    ctx.output.warn(
      `refused: ${result.preflight.length} scoped table(s) are not ready for row-level security; nothing was changed (--force applies anyway)`,
    );
  }
  if (result.refusals.length === 0 && (result.preflight.length === 0 || opts.force)) {
    const c = ctx.output.stdoutColor;
    const table = listTable(['table', 'status', 'why', 'file'], ctx.output);
    for (const t of result.tables) {
      const status = t.status === 'applied' ? c.green(t.status) : t.status === 'failed' ? c.red(t.status) : t.status;
      table.push([t.table, status, t.reason, t.file]);
    }
    ctx.output.data(table.toString());
    const trigger = result.partitionTrigger;
    if (trigger && (trigger.action !== 'none' || trigger.status === 'failed')) {
      const status = trigger.status === 'failed' ? c.red(trigger.status) : trigger.status;
      ctx.output.data(`partition trigger ${trigger.name}: ${status}: ${trigger.reason}`);
      if (result.dryRun && trigger.sql) ctx.output.data(trigger.sql.trimEnd());
    }
    const n = (s: string) => result.tables.filter((t) => t.status === s).length;
    ctx.output.info(
      result.dryRun
        ? `dry run: ${n('would-apply')} would be applied, ${n('unchanged')} unchanged, ${n('skipped')} skipped; nothing changed`
        : `${n('applied')} applied, ${n('unchanged')} unchanged, ${n('failed')} failed, ${n('skipped')} skipped`,
    );
  }
  return result.ok ? 0 : 1;
}

export async function diff(ctx: CommandContext, opts: PoliciesOptions): Promise<number> {
  ctx.interrupt.describe(() => 'policies diff stopped (every file is tried in a rolled-back transaction: nothing was changed); run it again');
  const manifest = await ctx.loadManifest();
  const client = await ctx.connect();
  // Each file is tried for real (then rolled back): that needs a writable server.
  await ctx.assertWritable('policies diff', client);
  const result = await policyDiff({
    client,
    manifest,
    policiesDir: opts.policiesDir,
    lockTimeoutMs: lockTimeout(opts.lockTimeout),
    logger: ctx.output.logger,
  });
  const drifted = result.drift.length > 0 || result.missingFiles.length > 0;
  if (opts.json) {
    ctx.output.data(JSON.stringify(result, null, 2));
  } else {
    for (const d of result.drift) ctx.output.data(`${d.schema}.${d.table}: ${d.kind}${d.object ? ` ${d.object}` : ''}: ${d.detail}`);
    for (const t of result.missingFiles) ctx.output.data(`${manifest.schema}.${t}: no policy file (run \`crm-tenancy generate\`)`);
    ctx.output.info(
      drifted
        ? `drift in ${new Set(result.drift.map((d) => d.table)).size} table(s)${result.missingFiles.length ? `, ${result.missingFiles.length} without a file` : ''}`
        : `no drift: ${result.tables.length} table(s) match their files`,
    );
  }
  return drifted ? 1 : 0;
}

export async function status(ctx: CommandContext, opts: PoliciesOptions): Promise<number> {
  ctx.interrupt.describe(() => 'policies status stopped (it only reads); run it again');
  const manifest = await ctx.loadManifest();
  const client = await ctx.connect();
  const result = await policyStatus({ client, manifest, policiesDir: opts.policiesDir, logger: ctx.output.logger });
  if (opts.json) {
    ctx.output.data(JSON.stringify(result, null, 2));
    return 0;
  }
  const c = ctx.output.stdoutColor;
  const yes = (v: boolean) => (v ? c.green('yes') : c.red('no'));
  const table = listTable(['table', 'RLS', 'forced', 'policies', 'applied', 'file', 'state'], ctx.output);
  for (const t of result.tables) {
    const state = !t.exists
      ? c.red('missing table')
      : t.drifted
        ? c.red('drifted')
        : t.pending
          ? c.yellow('pending apply')
          : t.appliedChecksum
            ? 'applied'
            : c.yellow('never applied');
    table.push([
      t.table,
      yes(t.rlsEnabled),
      yes(t.rlsForced),
      t.policies.map((p) => `${p.name} (${p.permissive ? '' : 'restrictive '}${p.command} to ${p.roles.join(', ')})`).join('\n') || '—',
      short(t.appliedChecksum),
      short(t.fileChecksum),
      state,
    ]);
  }
  ctx.output.data(table.toString());
  const t = result.partitionTrigger;
  const triggerState = !t.wanted
    ? 'off (tenant.partition_trigger: false)'
    : t.partitionedTables.length === 0
      ? 'not needed (no scoped table is partitioned)'
      : !t.installed
        ? c.red('not installed: new partitions get no row-level security (run `policies apply`)')
        : !t.enabled
          ? c.red('disabled')
          : !t.current
            ? c.yellow('outdated (run `policies apply`)')
            : c.green('installed');
  ctx.output.data(`partition trigger ${t.name}: ${triggerState}${t.partitionedTables.length ? ` — partitioned: ${t.partitionedTables.join(', ')}` : ''}`);
  return 0;
}
