// The `policies` command's declaration: apply, diff, status (code: actions/policies.ts).
import type { Command } from 'commander';
import { lazyAction } from '../lazy-action.js';
import type { PoliciesOptions } from '../actions/policies.js';

/** As policies/apply.ts's DEFAULT_POLICY_LOCK_TIMEOUT_MS (a test keeps them equal; that module is not loaded for --help). */
export const POLICY_LOCK_TIMEOUT_DEFAULT = '500';

const quiet = ([opts]: [PoliciesOptions]) => opts.json;

export function register(program: Command): void {
  const policies = program
    .command('policies')
    .description('row-level security: apply the policy files, compare them with the database, show status');

  policies
    .command('apply')
    .description('apply changed policy files, one transaction per table (checks the application roles first)')
    .option('--policies-dir <dir>', 'directory of policy files', 'policies')
    .option('--lock-timeout <ms>', 'lock_timeout of each table transaction; lock timeouts are retried with backoff', POLICY_LOCK_TIMEOUT_DEFAULT)
    .option('--dry-run', 'show which files would be applied and what the preflight refuses; change nothing', false)
    .option('--force', 'apply although a scoped table lacks its NOT NULL tenant column (experts only)', false)
    .option('--json', 'print the result as JSON', false)
    .addHelpText(
      'after',
      `
Preflight: refuses (exit 1, nothing changed) while a scoped table lacks its tenant column or it is
not yet NOT NULL (NULL tenants would vanish behind row-level security), naming the commands to run
first (migrate, backfill, migrate); --force applies anyway. One apply at a time (advisory lock).
When a scoped table is partitioned, it also installs an event trigger (needs a superuser) that
enables and forces row-level security and copies the parent's policies onto every partition the
moment it is created or attached (pg_partman maintenance included); tenant.partition_trigger: false
in the manifest opts out (and removes it). --dry-run prints its SQL.
Refuses (exit 1) when an application role is superuser, BYPASSRLS, owns a scoped table, or can SET
ROLE to such a role, and prints what to run instead. Missing roles are created NOLOGIN (warning).
Each file's checksum is recorded in the bookkeeping schema: unchanged files are not re-applied
unless the table's live policies drifted. Policies no file creates are dropped (reported).

Examples:
  $ crm-tenancy policies apply
  $ crm-tenancy policies apply --policies-dir db/policies --lock-timeout 2000 --json`,
    )
    .action(lazyAction(() => import('../actions/policies.js').then((m) => ({ run: m.apply })), { quiet }));

  policies
    .command('diff')
    .description('compare the policy files with the live policies (pg_get_expr-normalised); exit 1 on drift')
    .option('--policies-dir <dir>', 'directory of policy files', 'policies')
    .option('--lock-timeout <ms>', 'lock_timeout while a file is tried in a rolled-back transaction', POLICY_LOCK_TIMEOUT_DEFAULT)
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
    .action(lazyAction(() => import('../actions/policies.js').then((m) => ({ run: m.diff })), { quiet }));

  policies
    .command('status')
    .description('per table: RLS enabled / forced, policies, applied checksum, pending and drifted (read-only)')
    .option('--policies-dir <dir>', 'directory of policy files', 'policies')
    .option('--json', 'print the result as JSON', false)
    .addHelpText('after', `\nExamples:\n  $ crm-tenancy policies status\n  $ crm-tenancy policies status --json`)
    .action(lazyAction(() => import('../actions/policies.js').then((m) => ({ run: m.status })), { quiet }));
}
