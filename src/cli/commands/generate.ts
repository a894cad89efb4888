// The `generate` command's declaration: writes the migration and policy files the manifest still needs (code: actions/generate.ts).
import type { Command } from 'commander';
import { lazyAction } from '../lazy-action.js';
import type { GenerateCliOptions } from '../actions/generate.js';

export function register(program: Command): void {
  program
    .command('generate')
    .description('compare the manifest with the live database and write reviewable migration and policy files')
    .option('--migrations-dir <dir>', 'where the node-pg-migrate SQL files go', 'migrations')
    .option('--policies-dir <dir>', 'where the policy files go', 'policies')
    .option('--force', 'overwrite policy files you edited', false)
    .option('--check', 'write nothing; exit 1 when files would change, 0 when they are in sync (for CI)', false)
    .option('--json', 'print the result as JSON on stdout', false)
    .option('--target <target>', 'citus: also write the distribute phase and the Citus policy form (as distribution: citus in the manifest)')
    .addHelpText(
      'after',
      `
Writes one file per phase that has work (expand, index, validate, composite, views; with --target
citus or distribution: citus, distribute last: see docs/citus.md), numbered after the
files already in --migrations-dir. A generated file not yet run is rewritten when the manifest or the
database changed (removed when none of it is needed any more); a file already run is never touched; a
file not yet run that you edited (its checksum line no longer matches) is kept, and named in a warning.
Running generate twice writes nothing new. Review the files, commit them, then run \`crm-tenancy migrate\`.

Exit codes: 0 done (with --check: files in sync); 1 with --check: files would change (nothing written);
2 could not run.

Examples:
  $ crm-tenancy generate --database-url postgres://dba@db/sales_crm
  $ crm-tenancy generate --migrations-dir db/migrations --policies-dir db/policies --json
  $ crm-tenancy generate --check
  $ crm-tenancy generate --target citus   # + the distribute phase (run on the Citus coordinator)`,
    )
    .action(lazyAction(() => import('../actions/generate.js'), { quiet: ([opts]: [GenerateCliOptions]) => Boolean(opts.json) }));
}
