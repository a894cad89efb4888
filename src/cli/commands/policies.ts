// The `policies` command: apply the policy files, diff them against the database, show RLS status per table.
import type { Command } from 'commander';
import { applyPolicies, policyDiff, policyStatus, DEFAULT_POLICY_LOCK_TIMEOUT_MS } from '../../policies/apply.js';
import { action } from '../context.js';
import { duration } from '../option-parsers.js';
import { listTable } from '../table-styles.js';

interface PoliciesOptions {
  policiesDir: string;
  lockTimeout?: string;
  dryRun?: boolean;
  force?: boolean;
  json: boolean;
}

const lockTimeout = (value: string | undefined): number =>
  value === undefined ? DEFAULT_POLICY_LOCK_TIMEOUT_MS : duration('--lock-timeout', value);

const short = (checksum: string | null) => (checksum ? checksum.slice(0, 12) : '—');

export function register(program: Command): void {
  const policies = program
    .command('policies')
    .description('row-level security: apply the policy files, compare them with the database, show status');

  policies
    .command('apply')
    .description('apply changed policy files, one transaction per table (checks the application roles first)')
    .option('--policies-dir <dir>', 'directory of policy files', 'policies')
    .option('--lock-timeout <ms>', 'lock_timeout of each table transaction; lock timeouts are retried with backoff', String(DEFAULT_POLICY_LOCK_TIMEOUT_MS))
    .option('--dry-run', 'show which files would be applied and what the preflight refuses; change nothing', false)
    .option('--force', 'apply although a scoped table lacks its NOT NULL tenant column (experts only)', false)
    .option('--json', 'print the result as JSON', false)
    .addHelpText(
      'after',
      `
Preflight: refuses (exit 1, nothing changed) while a scoped table lacks its tenant column or it is
not yet NOT NULL (NULL tenants would vanish behind row-level security), naming the commands to run
first (migrate, backfill, migrate); --force applies anyway. One apply at a time (advisory lock).
Refuses (exit 1) when an application role is superuser, BYPASSRLS, owns a scoped table, or can SET
ROLE to such a role, and prints what to run instead. Missing roles are created NOLOGIN (warning).
Each file's checksum is recorded in the bookkeeping schema: unchanged files are not re-applied
unless the table's live policies drifted. Policies no file creates are dropped (reported).
When a scoped table is partitioned, it also installs an event trigger (needs a superuser) that
enables and forces row-level security and copies the parent's policies onto every partition the
moment it is created or attached (pg_partman maintenance included); tenant.partition_trigger: false
in the manifest opts out (and removes it). --dry-run prints its SQL.

Examples:
  $ crm-tenancy policies apply
  $ crm-tenancy policies apply --policies-dir db/policies --lock-timeout 2000 --json`,
    )
    .action(
      action(
        async (ctx, opts: PoliciesOptions) => {
          const manifest = await ctx.loadManifest();
          const client = await ctx.connect();
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
          } else {
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
          }
          return result.ok ? 0 : 1;
        },
        { quiet: ([opts]) => (opts as PoliciesOptions).json },
      ),
    );

  policies
    .command('diff')
    .description('compare the policy files with the live policies (pg_get_expr-normalised); exit 1 on drift')
    .option('--policies-dir <dir>', 'directory of policy files', 'policies')
    .option('--lock-timeout <ms>', 'lock_timeout while a file is tried in a rolled-back transaction', String(DEFAULT_POLICY_LOCK_TIMEOUT_MS))
    .option('--json', 'print the result as JSON', false)
    .addHelpText(
      'after',
      `
Each file runs in a transaction that is rolled back, and what it produces is compared with what the
database has: RLS flags, policies (names, roles, commands, USING / WITH CHECK), table privileges of
the manifest's roles, and the schema's functions (a file may define one). Takes each table's lock
for a moment.

Examples:
  $ crm-tenancy policies diff
  $ crm-tenancy policies diff --json | jq '.drift[] | .table + ": " + .detail'`,
    )
    .action(
      action(
        async (ctx, opts: PoliciesOptions) => {
          const manifest = await ctx.loadManifest();
          const client = await ctx.connect();
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
        },
        { quiet: ([opts]) => (opts as PoliciesOptions).json },
      ),
    );

  policies
    .command('status')
    .description('per table: RLS enabled / forced, policies, applied checksum, pending and drifted (read-only)')
    .option('--policies-dir <dir>', 'directory of policy files', 'policies')
    .option('--json', 'print the result as JSON', false)
    .addHelpText('after', `\nExamples:\n  $ crm-tenancy policies status\n  $ crm-tenancy policies status --json`)
    .action(
      action(
        async (ctx, opts: PoliciesOptions) => {
          const manifest = await ctx.loadManifest();
          const client = await ctx.connect();
          const result = await policyStatus({ client, manifest, policiesDir: opts.policiesDir, logger: ctx.output.logger });
          if (opts.json) {
            ctx.output.data(JSON.stringify(result, null, 2));
          } else {
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
          }
          return 0;
        },
        { quiet: ([opts]) => (opts as PoliciesOptions).json },
      ),
    );
}
