// The `init` command's declaration: drafts tenancy.yaml from the live database (code: actions/init.ts).
import type { Command } from 'commander';
import { lazyAction } from '../lazy-action.js';

export function register(program: Command): void {
  program
    .command('init')
    .description('connect, introspect, and draft a tenancy manifest (never overwrites without --force)')
    .option('--schema <name>', 'schema holding the application tables', 'public')
    .option('--tenant-table <name>', 'the tenant table (guessed from the foreign-key graph when absent)')
    .option('--tenant-column <name>', 'the tenant column (guessed when absent)')
    .option('-o, --output <file>', 'where to write the draft (default: the --config file, tenancy.yaml)')
    .option('--stdout', 'print the draft instead of writing a file', false)
    .option('--force', 'overwrite an existing file', false)
    .option(
      '--inference-timeout <duration>',
      'statement_timeout of each read of the data for polymorphic pairs; a pair not read in time stays a TODO',
      '30s',
    )
    .addHelpText(
      'after',
      `
Examples:
  $ crm-tenancy init --database-url postgres://dba@db/sales_crm
  $ crm-tenancy init --tenant-table organizations --tenant-column org_id --stdout`,
    )
    .action(lazyAction(() => import('../actions/init.js')));
}
