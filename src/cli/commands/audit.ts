// The `audit` command: the CI gate. Parses options, runs the audit, renders it, returns the exit code.
import { readdirSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import Table from 'cli-table3';
import { runAudit } from '../../audit/runner.js';
import { loadBaseline, loadWaivers } from '../../audit/waivers.js';
import { loadChecks } from '../../audit/check-definitions.js';
import type { AuditResult, Severity } from '../../audit/types.js';
import { coverageMatrix } from '../../report/coverage.js';
import { renderBaseline, renderJson } from '../../report/json.js';
import { renderJunit } from '../../report/junit.js';
import { renderMarkdown } from '../../report/markdown.js';
import { DEEP_HINT, anyProven, dataCheckLines } from '../../report/proofs.js';
import { renderSarif } from '../../report/sarif.js';
import { TenancyError } from '../../errors.js';
import { packagePath } from '../../paths.js';
import { action } from '../context.js';
import type { Output } from '../output.js';

const FORMATS = ['table', 'json', 'sarif', 'junit', 'markdown'] as const;
type Format = (typeof FORMATS)[number];
const FAIL_ON = ['error', 'warning', 'info', 'never'] as const;

interface AuditCliOptions {
  format: string;
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

const list = (value?: string): string[] | undefined =>
  value ? value.split(',').map((s) => s.trim()).filter(Boolean) : undefined;

function renderTable(result: AuditResult, output: Output): string {
  const c = output.stdoutColor;
  const style = { head: c.level > 0 ? ['cyan'] : [], border: [] };
  const sev = (s: Severity) => (s === 'error' ? c.red(s) : s === 'warning' ? c.yellow(s) : c.blue(s));
  const s = result.summary;
  const lines: string[] = [];
  const verdict = result.exitCode === 0 ? c.green('PASS') : c.red('FAIL');
  lines.push(
    `${verdict}  ${c.red(`${s.error} errors`)}, ${c.yellow(`${s.warning} warnings`)}, ${s.info} info, ${s.waived} waived — ` +
      `${s.checks} checks on ${s.tables} tables (${s.scannedTables} scanned, ${s.skippedScans} scans proven unnecessary) ` +
      `in ${(s.durationMs / 1000).toFixed(1)} s · ${s.server} · --fail-on ${s.failOn}${s.deep ? ' · --deep' : ''}`,
  );
  if (result.dataChecks.length > 0) {
    lines.push('', c.bold('Data checks'), ...dataCheckLines(result).map((l) => `  ${l}`));
    if (anyProven(result)) lines.push(c.dim(`  ${DEEP_HINT}`));
  }
  const groups = new Map<string, typeof result.findings>();
  for (const f of result.findings) {
    const key = f.table ?? '(roles and other objects)';
    groups.set(key, [...(groups.get(key) ?? []), f]);
  }
  const order = (t: string) => {
    const i = result.tables.indexOf(t);
    return i < 0 ? Number.MAX_SAFE_INTEGER : i;
  };
  for (const [table, findings] of [...groups].sort((a, b) => order(a[0]) - order(b[0]))) {
    lines.push('', c.bold(table));
    const t = new Table({ head: ['severity', 'check', 'object', 'count', 'finding', 'samples'], style, wordWrap: true, colWidths: [10, 26, 22, 7, 60, 18] });
    for (const f of findings) {
      t.push([
        f.waived ? c.dim(`waived`) : sev(f.severity),
        f.check,
        f.object ?? '',
        f.count === null ? '' : String(f.count),
        f.waived ? `${f.message} (waived: ${f.waived.reason})` : f.message,
        f.samples.length ? JSON.stringify(f.samples) : '',
      ]);
    }
    lines.push(t.toString());
  }
  for (const w of result.expiredWaivers) lines.push(c.yellow(`waiver for ${w.check} on ${w.object} expired on ${w.expires}: it no longer waives`));
  for (const w of result.unusedWaivers) lines.push(c.yellow(`waiver for ${w.check} on ${w.object} matched nothing: remove it`));
  const matrix = coverageMatrix(result);
  const short = (id: string) => id.split('-').map((w) => w[0]).join('');
  const mark = { pass: c.green('✓'), fail: c.red('✗'), warn: c.yellow('!'), waived: c.dim('~'), info: c.blue('i') };
  const t = new Table({ head: ['table', ...matrix.checks.map(short)], style });
  for (const r of matrix.rows) t.push([r.table, ...matrix.checks.map((id) => mark[r.cells[id]])]);
  lines.push('', c.bold('Coverage (✓ pass, ✗ error, ! warning, ~ waived, i info)'), t.toString());
  lines.push(c.dim(matrix.checks.map((id) => `${short(id)} = ${id}`).join(' · ')));
  if (result.findings.length > 0) lines.push('', `What each check means and how to fix it: docs/checks/<check>.md`);
  return `${lines.join('\n')}\n`;
}

export function register(program: Command): void {
  program
    .command('audit')
    .description('find every tenancy defect — catalog and data — in one read-only snapshot; the CI gate')
    .option('-f, --format <format>', `output format: ${FORMATS.join(' | ')}`, 'table')
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
  $ crm-tenancy audit --format markdown >> "$GITHUB_STEP_SUMMARY"
  $ crm-tenancy audit --only null-tenant,cross-tenant-reference --format json | jq '.summary'
  $ crm-tenancy audit --deep                      # after a restore or a logical-replication catch-up
  $ crm-tenancy audit --write-baseline tenancy-baseline.json && crm-tenancy audit --baseline tenancy-baseline.json`,
    )
    .action(
      action(
        async (ctx, opts: AuditCliOptions) => {
          const format = opts.format as Format;
          if (!FORMATS.includes(format)) throw new TenancyError('usage', `--format must be one of ${FORMATS.join(', ')}, not ${opts.format}`);
          if (!(FAIL_ON as readonly string[]).includes(opts.failOn)) {
            throw new TenancyError('usage', `--fail-on must be one of ${FAIL_ON.join(', ')}, not ${opts.failOn}`);
          }
          const timeout = Number(opts.statementTimeout);
          const concurrency = Number(opts.concurrency);
          if (!Number.isInteger(timeout) || timeout < 1) throw new TenancyError('usage', `--statement-timeout must be a whole number of ms`);
          if (!Number.isInteger(concurrency) || concurrency < 1) throw new TenancyError('usage', `--concurrency must be a whole number ≥ 1`);
          const only = list(opts.only);
          // `--only ""` or `--only ,` names no check: refuse rather than run every check (or none).
          if (opts.only !== undefined && !only?.length) throw new TenancyError('usage', '--only names no check id: an audit that checks nothing is not a pass');
          const manifest = await ctx.loadManifest();
          const checks = await loadChecks();
          const waivers = opts.waivers ? await loadWaivers(opts.waivers, checks.map((c) => c.id)) : [];
          const baseline = opts.baseline ? await loadBaseline(opts.baseline) : [];
          const result = await runAudit({
            databaseUrl: ctx.target.databaseUrl,
            manifest,
            only,
            skip: list(opts.skip),
            deep: opts.deep ?? false,
            statementTimeoutMs: timeout,
            concurrency,
            waivers,
            baseline,
            failOn: opts.failOn as Severity | 'never',
            logger: ctx.output.logger,
          });
          const text =
            format === 'json'
              ? renderJson(result)
              : format === 'sarif'
                ? renderSarif(result, version(), manifest.file)
                : format === 'junit'
                  ? renderJunit(result)
                  : format === 'markdown'
                    ? renderMarkdown(result)
                    : renderTable(result, ctx.output);
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
        { quiet: ([opts]) => (opts as AuditCliOptions).format !== 'table' && !(opts as AuditCliOptions).output },
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
