// The `sample` command's declaration: loads the sample CRM or the SaaS fixture at any scale (code: actions/sample.ts).
import type { Command } from 'commander';
import { lazyAction } from '../lazy-action.js';

export function register(program: Command): void {
  program
    .command('sample')
    .description("load a sample into a database: the CRM of the report (default) or the SaaS fixture")
    .option('--sample <name>', 'crm (the customer\'s database in the report\'s state) or saas (the SaaS fixture)', 'crm')
    .option('--scale <n>', 'copies of the data set: crm ~665 rows each (1 = the report\'s exact numbers); saas: blocks of 3 organizations', '1')
    .option('--write-manifest <file>', 'saas: also write its manifest (sample/saas-tenancy.yaml with the feature tables listed) to this file')
    .option('--schema <name>', 'schema to create the tables in', 'public')
    .addHelpText(
      'after',
      `
Examples:
  $ crm-tenancy sample --database-url postgres://postgres@localhost/sales_crm
  $ crm-tenancy sample --scale 17000 --database-url postgres://postgres@localhost/big   # ~10M rows
  $ crm-tenancy sample --sample saas --write-manifest tenancy.yaml --database-url postgres://postgres@localhost/saas`,
    )
    .action(lazyAction(() => import('../actions/sample.js')));
}
