// The `verify` command's declaration: proves tenant isolation live (code: actions/verify.ts).
import type { Command } from 'commander';
import { lazyAction } from '../lazy-action.js';
import type { VerifyCliOptions } from '../actions/verify.js';

export function register(program: Command): void {
  program
    .command('verify')
    .description('prove tenant isolation on the live database, as each application role (every probe rolled back)')
    .option('--json', 'print the result as JSON', false)
    .option('--tenants <A,B>', 'the two tenant keys to probe with (default: the two with the most rows)')
    .addHelpText(
      'after',
      `
Probes, per application role and table (tenant A set unless said otherwise):
  select A   SELECT sees exactly A's rows (the count read as owner)
  no tenant  no tenant set: zero rows and no error
  insert B   INSERT of a row for tenant B is rejected
  A→B        UPDATE of an A row to tenant B is rejected
  update B   UPDATE of B's rows affects zero rows
  delete B   DELETE of B's rows affects zero rows
  ref B      an A row referencing B's parent: rejected with composite keys, else reported
  views      views over the table the role can read show no B rows
Connect as a superuser or BYPASSRLS role that can SET ROLE to the application roles.
Exit 1 on any failure, naming the table and the probe.

Examples:
  $ crm-tenancy verify
  $ crm-tenancy verify --tenants 1,2 --json`,
    )
    .action(lazyAction(() => import('../actions/verify.js'), { quiet: ([opts]: [VerifyCliOptions]) => opts.json }));
}
