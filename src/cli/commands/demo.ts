// The `demo` command's declaration: the whole story on an embedded PostgreSQL (code: actions/demo.ts).
import type { Command } from 'commander';
import { lazyAction } from '../lazy-action.js';

export function register(program: Command): void {
  program
    .command('demo')
    .description('run the whole story on an embedded PostgreSQL loaded with the sample CRM')
    .option('--keep', 'leave the database running and print how to connect (Ctrl-C stops and removes it)', false)
    .option('--sample <name>', 'crm (the report\'s CRM) or saas (uuid keys, soft deletes, shared rows, polymorphic pairs, partitions)', 'crm')
    .addHelpText(
      'after',
      `
Runs, on a throwaway embedded PostgreSQL: load the sample CRM → audit → generate → migrate
(refused while NULLs remain) → backfill → dedupe → migrate → policies apply → verify → audit.
Everything is removed afterwards, also on Ctrl-C, also with --keep once you press it (exit 130).

With --sample saas the story runs on the SaaS fixture and adds one step: the fixes only a person can
make (two invoices sharing a number, a payment pointing at another organization's invoice…), which
the tool reports and refuses to guess.

Examples:
  $ npx crm-tenancy demo
  $ npx crm-tenancy demo --sample saas`,
    )
    .action(lazyAction(() => import('../actions/demo.js'), { database: false }));
}
