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
    .option('--json', 'print the result as JSON on stdout', false)
    .addHelpText(
      'after',
      `
Writes one file per phase that has work (expand, index, validate, composite), numbered after the
files already in --migrations-dir. Files not yet run are taken into account: running generate twice
writes nothing new. Review the files, commit them, then run \`crm-tenancy migrate\`.

Examples:
  $ crm-tenancy generate --database-url postgres://dba@db/sales_crm
  $ crm-tenancy generate --migrations-dir db/migrations --policies-dir db/policies --json`,
    )
    .action(lazyAction(() => import('../actions/generate.js'), { quiet: ([opts]: [GenerateCliOptions]) => Boolean(opts.json) }));
}
