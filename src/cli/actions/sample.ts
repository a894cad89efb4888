// `crm-tenancy sample`: loads the sample CRM (the report's state) at any scale into a database.
import { loadSampleCrm, ROWS_PER_SCALE } from '../../sample/sample-crm.js';
import type { CommandContext } from '../context.js';
import { positiveInt } from '../option-parsers.js';

export async function run(ctx: CommandContext, opts: { scale: string; schema: string }): Promise<number> {
  ctx.interrupt.describe(() => 'sample stopped: the load is one transaction, so nothing was loaded; run it again');
  const scale = positiveInt('--scale', opts.scale);
  const client = await ctx.connect();
  await ctx.assertWritable('sample', client);
  ctx.output.info(`loading the sample CRM ×${scale} (~${(ROWS_PER_SCALE * scale).toLocaleString('en-US')} rows) into schema ${opts.schema}…`);
  const result = await loadSampleCrm(client, {
    scale,
    schema: opts.schema,
    onPhase: (phase) => ctx.output.debug(`phase: ${phase}`),
  });
  ctx.output.info(`loaded ${result.rows.toLocaleString('en-US')} rows in ${(result.ms / 1000).toFixed(1)} s`);
  return 0;
}
