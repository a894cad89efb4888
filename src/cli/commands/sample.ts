// The `sample` command's declaration: loads the sample CRM at any scale (code: actions/sample.ts).
import type { Command } from 'commander';
import { lazyAction } from '../lazy-action.js';

export function register(program: Command): void {
  program
    .command('sample')
    .description("load the sample CRM (the customer's database in the report's state) into a database")
    .option('--scale <n>', 'copies of the data set, ~600 rows each (1 = the report\'s exact numbers)', '1')
    .option('--schema <name>', 'schema to create the tables in', 'public')
    .addHelpText(
      'after',
      `
Examples:
  $ crm-tenancy sample --database-url postgres://postgres@localhost/sales_crm
  $ crm-tenancy sample --scale 17000 --database-url postgres://postgres@localhost/big   # ~10M rows`,
    )
    .action(lazyAction(() => import('../actions/sample.js')));
}
