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
    .option('--allow-unprobed', 'list what could not be probed without failing on it', false)
    .option('--target <target>', "postgres (default) or citus: also print the citus-unrouted report (EXPLAIN task counts per table, on a Citus coordinator)")
    .addHelpText(
      'after',
      `
Probes, per application role and table, run both ways (A set against B, then B set against A):
  select A   SELECT sees exactly A's rows (the count read as owner)
  no tenant  no tenant set: zero rows and no error
  insert B   INSERT of a row for tenant B is rejected
  A→B        UPDATE moving an A row to tenant B moves nothing (the UPDATE policy itself is tested)
  update B   UPDATE of a B row (into A) affects zero rows
  delete B   DELETE of a B row affects zero rows
  ref B      an A row referencing B's parent: rejected with composite keys, else reported
  views      views over the table the role can read show no B rows
  truncate   TRUNCATE is refused (it ignores row-level security)
  alter      ALTER TABLE … NO FORCE ROW LEVEL SECURITY is refused (the role owns nothing)
Per application role:
  definer-function        no SECURITY DEFINER function or trigger it can reach, unless in definer_functions
  tenant-setting-default  no role/database default for the tenant setting; a fresh login sees it unset
  unprotected-table       every other table it can read with the tenant column (or below a scoped table)
                          has row-level security enabled and forced
  state-schema            the bookkeeping schema is not readable
  role-membership         it cannot SET ROLE to a superuser, a BYPASSRLS role or a scoped table's owner
  polymorphic-reference   an A row pointed through a *_type/*_id pair at B's row is rejected (23503)
  new-partition           a partition created now under a partitioned scoped table is isolated at once
  shared-rows             shared (NULL-tenant) rows are readable, and no tenant can change, delete or create one
  citus-propagation       (Citus coordinator) a login as the role gets citus.propagate_set_commands = 'local'
On a Citus coordinator the probes set the tenant with SET LOCAL (forwarded to the workers), the
application roles must be able to log in (Citus connects to the workers as them), and the write
probes use the forms Citus runs (docs/citus-runtime.md).
Rows a probe needs are made inside its rolled-back transaction (parents included).
Connect as a superuser or BYPASSRLS role that can SET ROLE to the application roles.
Exit 1 on any failure, naming the table and the probe, and when something could not be probed
(listed; --allow-unprobed accepts that). Exit 2 on a read-only (hot standby) server.

Examples:
  $ crm-tenancy verify
  $ crm-tenancy verify --tenants 1,2 --json
  $ crm-tenancy verify --target citus      # and the citus-unrouted report`,
    )
    .action(lazyAction(() => import('../actions/verify.js'), { quiet: ([opts]: [VerifyCliOptions]) => opts.json }));
}
