// The `audit` command: the CI gate. Parses options, runs the audit, renders it, returns the exit code.
import { readdirSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { runAudit } from '../../audit/runner.js';
import { loadBaseline, loadWaivers } from '../../audit/waivers.js';
import { loadChecks } from '../../audit/check-definitions.js';
import { renderBaseline } from '../../report/json.js';
import { AUDIT_FORMATS, renderAudit } from '../../report/render-audit.js';
import { TenancyError } from '../../errors.js';
import { packagePath } from '../../paths.js';
import { action } from '../context.js';
import { commaList, duration, knownNames, oneOf, positiveInt } from '../option-parsers.js';

const FAIL_ON = ['error', 'warning', 'info', 'never'] as const;

interface AuditCliOptions {
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
}

/** --json is short for --format json; both at once must agree. */
function formatOf(opts: AuditCliOptions) {
  if (opts.json && opts.format !== undefined && opts.format !== 'json') {
    throw new TenancyError('usage', `--json and --format ${opts.format} disagree`, { hint: '--json is short for --format json; pass one of them' });
  }
  return oneOf('--format', opts.json ? 'json' : (opts.format ?? 'table'), AUDIT_FORMATS);
}

export function register(program: Command): void {
  program
    .command('audit')
    .description('find every tenancy defect — catalog and data — in one read-only snapshot; the CI gate')
    .option('-f, --format <format>', `output format: ${AUDIT_FORMATS.join(' | ')} (default: table)`)
    .option('--json', 'short for --format json')
    .option('-o, --output <file>', 'write the report to a file instead of stdout')
    .option('--fail-on <severity>', `exit 1 when a finding at or above this remains: ${FAIL_ON.join(' | ')}`, 'error')
    .option('--only <ids>', 'run only these checks (comma-separated ids)')
    .option('--skip <ids>', 'skip these checks (comma-separated ids)')
    .option('--waivers <file>', 'YAML/JSON list of { check, object, reason, expires }')
    .option('--baseline <file>', 'accept the findings recorded there (fingerprints); fail only on new ones')
    .option('--write-baseline <file>', 'record the current findings as the baseline')
    .option('--statement-timeout <ms>', 'statement_timeout of every check query', '300000')
    .option('--concurrency <n>', 'connections sharing the snapshot: one reads the catalog, the others run the data queries', '2')
    .option(
      '--deep',
      'scan the data checks even where constraints prove them (after a logical-replication catch-up, a restore, or writes with session_replication_role = replica)',
    )
    .addHelpText(
      'after',
      `
Checks (ids for --only / --skip / waivers; docs/checks/<id>.md explains each):
${readChecksSync()}
Exit codes: 0 no finding at or above --fail-on (waived and baseline findings do not count);
1 findings at or above it; 2 could not run (manifest, connection, privilege, a check failed,
no scoped table exists or no check selected: an audit of nothing is not a pass).

Examples:
  $ crm-tenancy audit
  $ crm-tenancy audit --format sarif --output tenancy.sarif --fail-on never
  $ crm-tenancy audit --deep                      # after a restore or a logical-replication catch-up
  $ crm-tenancy audit --format markdown >> "$GITHUB_STEP_SUMMARY"
  $ crm-tenancy audit --only null-tenant,cross-tenant-reference --format json | jq '.summary'
  $ crm-tenancy audit --write-baseline tenancy-baseline.json && crm-tenancy audit --baseline tenancy-baseline.json`,
    )
    .action(
      action(
        async (ctx, opts: AuditCliOptions) => {
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
            logger: ctx.output.logger,
          });
          const text = renderAudit(result, format, { toolVersion: version(), manifestFile: manifest.file });
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
        },
        { quiet: ([opts]) => ((opts as AuditCliOptions).json || ((opts as AuditCliOptions).format ?? 'table') !== 'table') && !(opts as AuditCliOptions).output },
      ),
    );
}

function version(): string {
  return (JSON.parse(readFileSync(packagePath('package.json'), 'utf8')) as { version: string }).version;
}

/** The check list for --help, read from the check files' headers (help text is synchronous). */
function readChecksSync(): string {
  const dir = packagePath('audits');
  return readdirSync(dir)
    .filter((f) => /^\d{4}-.*\.sql$/.test(f))
    .sort()
    .map((f) => {
      const text = readFileSync(`${dir}/${f}`, 'utf8');
      const id = /^-- id: (.*)$/m.exec(text)?.[1] ?? f;
      const severity = /^-- severity: (.*)$/m.exec(text)?.[1] ?? '';
      const title = /^-- title: (.*)$/m.exec(text)?.[1] ?? '';
      return `  ${id.padEnd(28)} ${severity.padEnd(8)} ${title}`;
    })
    .join('\n');
}
