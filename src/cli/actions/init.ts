// `crm-tenancy init`: drafts tenancy.yaml from the live database.
import { access, writeFile } from 'node:fs/promises';
import { draftManifest, renderDraft } from '../../init/draft-manifest.js';
import { TenancyError } from '../../errors.js';
import type { CommandContext } from '../context.js';
import { duration } from '../option-parsers.js';

export interface InitOptions {
  schema: string;
  tenantTable?: string;
  tenantColumn?: string;
  output?: string;
  force: boolean;
  stdout: boolean;
  inferenceTimeout: string;
}

export async function run(ctx: CommandContext, opts: InitOptions): Promise<number> {
  const inferenceTimeoutMs = duration('--inference-timeout', opts.inferenceTimeout, 1);
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
    inferenceTimeoutMs,
  });
  const text = renderDraft(draft);
  if (opts.stdout) {
    ctx.output.data(text);
  } else {
    await writeFile(file, text, 'utf8');
    const counts = { scoped: 0, exempt: 0 };
    let shared = 0;
    let pairs = 0;
    let proven = 0;
    let unread = 0;
    for (const t of draft.tables) {
      const c = t.classification;
      if (c.kind === 'tenant') continue;
      counts[c.kind]++;
      if (c.kind === 'scoped' && c.sharedRows) shared++;
      pairs += c.polymorphic.filter((p) => p.doubt !== undefined).length;
      proven += c.polymorphic.filter((p) => p.doubt === undefined).length;
      unread += c.polymorphic.filter((p) => p.unread !== undefined).length;
    }
    ctx.output.info(
      `wrote ${file}: tenant ${draft.tenantTable}.${draft.tenantKey} (${draft.tenantType}) via ${draft.tenantColumn}, ` +
        `${counts.scoped} scoped, ${counts.exempt} exempt (give each a reason)` +
        (shared > 0 ? `, ${shared} table(s) with shared rows` : '') +
        (proven > 0 ? `, ${proven} polymorphic pair(s) inferred from the data` : '') +
        (pairs > 0 ? `, ${pairs} polymorphic pair(s) to check (TODO comments)` : '') +
        (unread > 0 ? `, ${unread} of them not read within --inference-timeout ${opts.inferenceTimeout}` : ''),
    );
  }
  return 0;
}
