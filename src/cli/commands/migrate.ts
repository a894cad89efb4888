// The `migrate` command's declaration: up (default), down, status, restore (code: actions/migrate.ts).
import type { Command } from 'commander';
import { lazyAction } from '../lazy-action.js';
import type { MigrateCliOptions } from '../actions/migrate.js';

export function register(program: Command): void {
  program
    .command('migrate')
    .description('run the generated migrations online (up), revert them (down) or show the rollout (status)')
    .argument('[action]', 'up, down, status, or restore RUN_ID (values archived by down --force)', 'up')
    .argument('[run-id]', 'restore: the run id `migrate down --force` printed')
    .option('--migrations-dir <dir>', 'the migration files', 'migrations')
    .option('--dry-run', 'print the exact SQL that would run; change nothing', false)
    .option('--lock-timeout <ms>', 'lock_timeout of every statement', '1000')
    .option('--statement-timeout <ms>', 'statement_timeout of every statement (default: the file\'s, 30 min)')
    .option('--retries <n>', 'retries of a statement that hit lock_timeout (exponential backoff with jitter)', '10')
    .option('--count <n>', 'down: how many migrations to revert (default 1); up: how many to apply')
    .option('--force', 'down: drop tenant columns that hold values (archived first)', false)
    .option('--json', 'print the result as JSON on stdout', false)
    .addHelpText(
      'after',
      `
Exit codes: 0 done; 1 refused (NULL tenants, duplicates, cross-tenant references, tenant values on
down) or a lock never obtained; 2 could not run (another migrate holds the lock, connection…);
130 interrupted: run the same command again (an interrupted index build is dropped and rebuilt).

Examples:
  $ crm-tenancy migrate --dry-run
  $ crm-tenancy migrate --lock-timeout 500 --retries 20
  $ crm-tenancy migrate status --json
  $ crm-tenancy migrate down --count 4 --force
  $ crm-tenancy migrate up --count 1 && crm-tenancy migrate restore migrate-down-20261128T101500-3fa9 && crm-tenancy migrate up
    (down --force prints this line with its N and run id: up to the expand phase, restore, the rest)`,
    )
    .action(
      lazyAction(() => import('../actions/migrate.js'), {
        quiet: ([, , opts]: [string, string | undefined, MigrateCliOptions]) => Boolean(opts.json),
      }),
    );
}
