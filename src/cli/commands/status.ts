// The `status` command's declaration: each table's rollout step and the next command (code: actions/status.ts).
import type { Command } from 'commander';
import { lazyAction } from '../lazy-action.js';
import type { StatusCliOptions } from '../actions/status.js';


/** As DEFAULT_STATUS_STATEMENT_TIMEOUT_MS in status/rollout-status.ts (not loaded for --help). */
export const DEFAULT_STATUS_STATEMENT_TIMEOUT_MS = 60_000;

export function register(program: Command): void {
  program
    .command('status')
    .description('where the rollout stands: per table, the step it is at (column → backfill → validate → composite → RLS → policy) and the next command')
    .option('--migrations-dir <dir>', 'the migration files (pending ones decide between generate and migrate)', 'migrations')
    .option('--policies-dir <dir>', 'the policy files (compared with what `policies apply` recorded)', 'policies')
    .option('--statement-timeout <ms>', 'statement_timeout of the read, NULL counts included', String(DEFAULT_STATUS_STATEMENT_TIMEOUT_MS))
    .option('--json', 'print the result as JSON on stdout', false)
    .addHelpText(
      'after',
      `
Steps, in order (a table is at the first one it has not completed):
  column     tenant column, its foreign key (NOT VALID is fine) and its index   → migrate (or generate)
  backfill   no NULL tenant left (counted through the tenant index)           → backfill --table T
  validate   foreign key VALIDATEd, NOT NULL, per-tenant unique keys          → migrate
  composite  (tenant, id) keys and composite FKs (composite_keys: true)       → migrate
  RLS        row-level security enabled and forced                             → policies apply
  policy     file applied as it is now, live policies not drifted              → policies apply
Read-only: one REPEATABLE READ READ ONLY snapshot (runs on a standby too).

Exit codes: 0 every table done; 1 some table is not done yet (the table says which and what to
run); 2 could not run.

Examples:
  $ crm-tenancy status
  $ crm-tenancy status --json | jq '.summary'
  $ crm-tenancy status --json | jq -r '.tables[] | select(.step != "done") | "\\(.table): \\(.next)"'`,
    )
    .action(lazyAction(() => import('../actions/status.js'), { quiet: ([opts]: [StatusCliOptions]) => Boolean(opts.json) }));
}
