// `crm-tenancy sample`: loads the sample CRM (the report's state) or the SaaS fixture at any scale into a database.
import { writeFile } from 'node:fs/promises';
import { loadSampleCrm, ROWS_PER_SCALE } from '../../sample/sample-crm.js';
import { loadSampleSaas, saasManifestText } from '../../sample/sample-saas.js';
import { TenancyError } from '../../errors.js';
import type { CommandContext } from '../context.js';
import { oneOf, positiveInt } from '../option-parsers.js';

export interface SampleCliOptions {
  sample: string;
  scale: string;
  schema: string;
  writeManifest?: string;
}

export async function run(ctx: CommandContext, opts: SampleCliOptions): Promise<number> {
  ctx.interrupt.describe(() => 'sample stopped: the load is one transaction, so nothing was loaded; run it again');
  const sample = oneOf('--sample', opts.sample, ['crm', 'saas'] as const);
  const scale = positiveInt('--scale', opts.scale);
  if (opts.writeManifest && sample !== 'saas') {
    throw new TenancyError('usage', '--write-manifest goes with --sample saas (the CRM\'s manifest is the repository\'s tenancy.yaml)');
  }
  const client = await ctx.connect();
  await ctx.assertWritable('sample', client);
  if (sample === 'saas') {
    ctx.output.info(`loading the SaaS sample ×${scale} (${3 * scale} organizations) into schema ${opts.schema}…`);
    const result = await loadSampleSaas(client, { scale, schema: opts.schema });
    ctx.output.info(`loaded ${result.tables} tables in ${(result.ms / 1000).toFixed(1)} s`);
    if (opts.writeManifest) {
      await writeFile(opts.writeManifest, await saasManifestText({ modules: result.modules }), 'utf8');
      ctx.output.info(`wrote ${opts.writeManifest}: its application role is saas_app (create it, or edit roles.app)`);
    }
    return 0;
  }
  ctx.output.info(`loading the sample CRM ×${scale} (~${(ROWS_PER_SCALE * scale).toLocaleString('en-US')} rows) into schema ${opts.schema}…`);
  const result = await loadSampleCrm(client, {
    scale,
    schema: opts.schema,
    onPhase: (phase) => ctx.output.debug(`phase: ${phase}`),
  });
  ctx.output.info(`loaded ${result.rows.toLocaleString('en-US')} rows in ${(result.ms / 1000).toFixed(1)} s`);
  return 0;
}
