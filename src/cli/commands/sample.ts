// The `sample` command: loads the sample CRM (the report's state) at any scale into a database.
import type { Command } from 'commander';
import { loadSampleCrm, ROWS_PER_SCALE } from '../../sample/sample-crm.js';
import { action } from '../context.js';
import { positiveInt } from '../option-parsers.js';

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
    .action(
      action(async (ctx, opts: { scale: string; schema: string }) => {
        const scale = positiveInt('--scale', opts.scale);
        const client = await ctx.connect();
        ctx.output.info(`loading the sample CRM ×${scale} (~${(ROWS_PER_SCALE * scale).toLocaleString('en-US')} rows) into schema ${opts.schema}…`);
        const result = await loadSampleCrm(client, {
          scale,
          schema: opts.schema,
          onPhase: (phase) => ctx.output.debug(`phase: ${phase}`),
        });
        ctx.output.info(`loaded ${result.rows.toLocaleString('en-US')} rows in ${(result.ms / 1000).toFixed(1)} s`);
        return 0;
      }),
    );
}
