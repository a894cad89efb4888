// `crm-tenancy audit`: the CI gate. Parses options, runs the audit, renders it, returns the exit code.
import { readFileSync, statSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runAudit } from '../../audit/runner.js';
import { loadBaseline, loadWaivers } from '../../audit/waivers.js';
import { readPrevious } from '../../audit/incremental/read-previous.js';
import { loadChecks } from '../../audit/check-definitions.js';
import { CHECK_TARGETS } from '../../audit/types.js';
import { renderBaseline } from '../../report/json.js';
import { AUDIT_FORMATS, renderAudit, type AuditFormat } from '../../report/render-audit.js';
import { TenancyError } from '../../errors.js';
import { packagePath } from '../../paths.js';
import { FAIL_ON } from '../commands/audit.js';
import type { CommandContext } from '../context.js';
import { commaList, duration, knownNames, oneOf, positiveInt } from '../option-parsers.js';

export interface AuditCliOptions {
  format?: string;
  json?: boolean;
  output?: string;
  /** --report FORMAT=FILE, repeatable. */
  report?: string[];
  docsBaseUrl?: string;
  failOn: string;
  only?: string;
  skip?: string;
  waivers?: string;
  baseline?: string;
  writeBaseline?: string;
  statementTimeout: string;
  concurrency?: string;
  deep?: boolean;
  target?: string;
  since?: string;
}

/** --json is short for --format json; both at once must agree. */
function formatOf(opts: AuditCliOptions) {
  if (opts.json && opts.format !== undefined && opts.format !== 'json') {
    throw new TenancyError('usage', `--json and --format ${opts.format} disagree`, { hint: '--json is short for --format json; pass one of them' });
  }
  return oneOf('--format', opts.json ? 'json' : (opts.format ?? 'table'), AUDIT_FORMATS);
}

/**
 * --report FORMAT=FILE values: a known format, a file, no file named twice (with --output and --write-baseline),
 * each in a directory that exists — checked before the audit runs, so a typo costs no audit.
 */
function reportsOf(opts: AuditCliOptions): { format: AuditFormat; file: string }[] {
  const reports = (opts.report ?? []).map((value) => {
    const at = value.indexOf('=');
    if (at < 0) throw new TenancyError('usage', `--report ${value}: expected FORMAT=FILE`, { hint: 'e.g. --report sarif=tenancy.sarif --report markdown=tenancy.md' });
    const format = oneOf('--report format', value.slice(0, at).trim(), AUDIT_FORMATS);
    const file = value.slice(at + 1).trim();
    if (!file) throw new TenancyError('usage', `--report ${value}: no file after =`, { hint: `e.g. --report ${format}=tenancy.${format}` });
    return { format, file };
  });
  const seen = new Map<string, string>();
  const files = [opts.output, opts.writeBaseline, ...reports.map((r) => r.file)].filter((f): f is string => Boolean(f));
  for (const file of files) {
    const resolved = path.resolve(file);
    if (seen.has(resolved)) throw new TenancyError('usage', `${file} is named twice (--output / --report / --write-baseline): each report needs its own file`);
    seen.set(resolved, file);
    let dir: ReturnType<typeof statSync> | undefined;
    try {
      dir = statSync(path.dirname(resolved));
    } catch {
      dir = undefined;
    }
    if (!dir?.isDirectory()) throw new TenancyError('usage', `cannot write ${file}: directory ${path.dirname(file)} does not exist`);
  }
  return reports;
}

/** --docs-base-url: an http(s) address (links in CI summaries and code scanning must be absolute). */
function docsBaseUrlOf(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (!url || !/^https?:$/.test(url.protocol)) {
    throw new TenancyError('usage', `--docs-base-url must be an http(s) address, not ${value}`, {
      hint: 'e.g. --docs-base-url https://github.com/OWNER/crm-tenancy/blob/v0.1.0 (docs/checks/<id>.md is appended)',
    });
  }
  return value.replace(/\/+$/, '');
}

/** Where SARIF paths are relative to: the checkout ($GITHUB_WORKSPACE) in GitHub Actions when the manifest is in it, else here. */
function sourceRootOf(manifestFile: string | undefined): string {
  const workspace = process.env.GITHUB_WORKSPACE;
  if (!workspace) return process.cwd();
  const relative = path.relative(path.resolve(workspace), path.resolve(manifestFile ?? 'tenancy.yaml'));
  return relative.startsWith('..') || path.isAbsolute(relative) ? process.cwd() : path.resolve(workspace);
}

export async function run(ctx: CommandContext, opts: AuditCliOptions): Promise<number> {
  ctx.interrupt.describe(() => 'audit stopped (it only reads: nothing was changed); run it again');
  const format = formatOf(opts);
  const reports = reportsOf(opts);
  const docsBaseUrl = docsBaseUrlOf(opts.docsBaseUrl);
  const failOn = oneOf('--fail-on', opts.failOn, FAIL_ON);
  const statementTimeoutMs = duration('--statement-timeout', opts.statementTimeout, 1);
  const concurrency = opts.concurrency === undefined ? undefined : positiveInt('--concurrency', opts.concurrency);
  const only = commaList(opts.only);
  // `--only ""` or `--only ,` names no check: refuse rather than run every check (or none).
  if (opts.only !== undefined && !only?.length) throw new TenancyError('usage', '--only names no check id: an audit that checks nothing is not a pass');
  const skip = commaList(opts.skip);
  const ids = (await loadChecks()).map((c) => c.id);
  knownNames('--only', only, ids, 'check id');
  knownNames('--skip', skip, ids, 'check id');
  const target = opts.target === undefined ? undefined : oneOf('--target', opts.target, CHECK_TARGETS);
  const manifest = await ctx.loadManifest();
  // The manifest's text as the audit used it: SARIF results point at the line declaring their table.
  const manifestText = manifest.file ? await readFile(manifest.file, 'utf8').catch(() => undefined) : undefined;
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
    ...(target ? { target } : {}),
    since,
    logger: ctx.output.logger,
  });
  const renderOptions = {
    toolVersion: version(),
    manifestFile: manifest.file,
    manifestText,
    sourceRoot: sourceRootOf(manifest.file),
    docsBaseUrl,
    verbose: ctx.output.verbose,
  };
  const counts = `${result.summary.error} errors, ${result.summary.warning} warnings, ${result.summary.info} info`;
  for (const report of reports) {
    await writeFile(report.file, renderAudit(result, report.format, renderOptions), 'utf8');
    ctx.output.info(`wrote ${report.format} ${report.file}: ${counts}`);
  }
  const text = renderAudit(result, format, renderOptions);
  if (opts.output) {
    await writeFile(opts.output, text, 'utf8');
    ctx.output.info(`wrote ${opts.output}: ${counts}`);
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
