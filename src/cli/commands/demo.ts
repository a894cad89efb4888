// The `demo` command's declaration: the whole story on an embedded PostgreSQL (code: actions/demo.ts).
import type { Command } from 'commander';
import { lazyAction } from '../lazy-action.js';

export function register(program: Command): void {
  program
    .command('demo')
    .description('run the whole story on an embedded PostgreSQL loaded with the sample CRM')
    .option('--keep', 'leave the database running and print how to connect (Ctrl-C stops and removes it)', false)
    .addHelpText(
      'after',
      `
Runs, on a throwaway embedded PostgreSQL: load the sample CRM → audit → generate → migrate
(refused while NULLs remain) → backfill → dedupe → migrate → policies apply → verify → audit.
Everything is removed afterwards, also on Ctrl-C, also with --keep once you press it (exit 130).

Example:
  $ npx crm-tenancy demo`,
    )
    .action(lazyAction(() => import('../actions/demo.js'), { database: false }));
}
