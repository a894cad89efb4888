// `crm-tenancy audit`: the CI gate. Parses options, runs the audit, renders it, returns the exit code.
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { runAudit } from '../../audit/runner.js';
import { loadBaseline, loadWaivers } from '../../audit/waivers.js';
import { readPrevious } from '../../audit/incremental/read-previous.js';
import { loadChecks } from '../../audit/check-definitions.js';
import { renderBaseline } from '../../report/json.js';
import { AUDIT_FORMATS, renderAudit } from '../../report/render-audit.js';
import { TenancyError } from '../../errors.js';
import { packagePath } from '../../paths.js';
import { FAIL_ON } from '../commands/audit.js';
import type { CommandContext } from '../context.js';
import { commaList, duration, knownNames, oneOf, positiveInt } from '../option-parsers.js';

export interface AuditCliOptions {
  format?: string;
  json?: boolean;
  output?: string;
  failOn: string;
  only?: string;
  skip?: string;
  waivers?: string;
  baseline?: string;
  writeBaseline?: string;
  statementTimeout: string;
  concurrency: string;
  deep?: boolean;
  since?: string;
}

/** --json is short for --format json; both at once must agree. */
function formatOf(opts: AuditCliOptions) {
  if (opts.json && opts.format !== undefined && opts.format !== 'json') {
    throw new TenancyError('usage', `--json and --format ${opts.format} disagree`, { hint: '--json is short for --format json; pass one of them' });
  }
  return oneOf('--format', opts.json ? 'json' : (opts.format ?? 'table'), AUDIT_FORMATS);
}

export async function run(ctx: CommandContext, opts: AuditCliOptions): Promise<number> {
  ctx.interrupt.describe(() => 'audit stopped (it only reads: nothing was changed); run it again');
  const format = formatOf(opts);
  const failOn = oneOf('--fail-on', opts.failOn, FAIL_ON);
  const statementTimeoutMs = duration('--statement-timeout', opts.statementTimeout, 1);
  const concurrency = positiveInt('--concurrency', opts.concurrency);
  const only = commaList(opts.only);
  // `--only ""` or `--only ,` names no check: refuse rather than run every check (or none).
  if (opts.only !== undefined && !only?.length) throw new TenancyError('usage', '--only names no check id: an audit that checks nothing is not a pass');
  const skip = commaList(opts.skip);
  const ids = (await loadChecks()).map((c) => c.id);
  knownNames('--only', only, ids, 'check id');
  knownNames('--skip', skip, ids, 'check id');
  const manifest = await ctx.loadManifest();
  const waivers = opts.waivers ? await loadWaivers(opts.waivers, ids) : [];
  const baseline = opts.baseline ? await loadBaseline(opts.baseline) : [];
  const since = opts.since !== undefined ? await readPrevious(opts.since) : undefined;
  const result = await runAudit({
    databaseUrl: ctx.target.databaseUrl,
    manifest,
    only,
    skip,
    statementTimeoutMs,
    concurrency,
    waivers,
    baseline,
    failOn,
    deep: opts.deep ?? false,
    since,
    logger: ctx.output.logger,
  });
  const text = renderAudit(result, format, { toolVersion: version(), manifestFile: manifest.file, verbose: ctx.output.verbose });
  if (opts.output) {
    await writeFile(opts.output, text, 'utf8');
    ctx.output.info(`wrote ${opts.output}: ${result.summary.error} errors, ${result.summary.warning} warnings, ${result.summary.info} info`);
  } else {
    ctx.output.data(text);
  }
  if (opts.writeBaseline) {
    await writeFile(opts.writeBaseline, renderBaseline(result), 'utf8');
    ctx.output.info(`wrote baseline ${opts.writeBaseline} (${result.findings.length} findings accepted)`);
  }
  return result.exitCode;
}

function version(): string {
  return (JSON.parse(readFileSync(packagePath('package.json'), 'utf8')) as { version: string }).version;
}
