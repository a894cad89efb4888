// `crm-tenancy init`: drafts tenancy.yaml from the live database.
import { access, writeFile } from 'node:fs/promises';
import { draftManifest, renderDraft } from '../../init/draft-manifest.js';
import { TenancyError } from '../../errors.js';
import type { CommandContext } from '../context.js';

export interface InitOptions {
  schema: string;
  tenantTable?: string;
  tenantColumn?: string;
  output?: string;
  force: boolean;
  stdout: boolean;
}

export async function run(ctx: CommandContext, opts: InitOptions): Promise<number> {
  const file = opts.output ?? ctx.options.config;
  ctx.interrupt.describe(() => `init stopped before writing ${opts.stdout ? 'the draft' : file}; run it again`);
  if (!opts.stdout && !opts.force) {
    const exists = await access(file).then(
      () => true,
      () => false,
    );
    if (exists) {
      throw new TenancyError('usage', `${file} already exists`, {
        hint: 'pass --force to overwrite it, --output FILE to write elsewhere, or --stdout',
      });
    }
  }
  const client = await ctx.connect();
  const draft = await draftManifest(client, {
    schema: opts.schema,
    tenantTable: opts.tenantTable,
    tenantColumn: opts.tenantColumn,
  });
  const text = renderDraft(draft);
  if (opts.stdout) {
    ctx.output.data(text);
  } else {
    await writeFile(file, text, 'utf8');
    const counts = { scoped: 0, exempt: 0 };
    for (const t of draft.tables) if (t.classification.kind !== 'tenant') counts[t.classification.kind]++;
    ctx.output.info(
      `wrote ${file}: tenant ${draft.tenantTable}.${draft.tenantKey} (${draft.tenantType}) via ${draft.tenantColumn}, ` +
        `${counts.scoped} scoped, ${counts.exempt} exempt (give each a reason)`,
    );
  }
  return 0;
}
