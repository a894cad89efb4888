// The `audit` command's declaration: the CI gate (code: actions/audit.ts).
import { readdirSync, readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { packagePath } from '../../paths.js';
import { lazyAction } from '../lazy-action.js';
import type { AuditCliOptions } from '../actions/audit.js';

/** As in report/render-audit.ts's AUDIT_FORMATS (a test keeps them equal; that module is not loaded for --help). */
export const AUDIT_FORMAT_NAMES = ['table', 'json', 'sarif', 'junit', 'markdown'] as const;
export const FAIL_ON = ['error', 'warning', 'info', 'never'] as const;

export function register(program: Command): void {
  program
    .command('audit')
    .description('find every tenancy defect — catalog and data — in one read-only snapshot; the CI gate')
    .option('-f, --format <format>', `output format: ${AUDIT_FORMAT_NAMES.join(' | ')} (default: table)`)
    .option('--json', 'short for --format json')
    .option('-o, --output <file>', 'write the report to a file instead of stdout')
    .option(
      '--report <format=file>',
      `also write FORMAT (${AUDIT_FORMAT_NAMES.join(' | ')}) to FILE, from the same run; repeatable: --report sarif=tenancy.sarif --report markdown=tenancy.md`,
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .option('--docs-base-url <url>', 'web address the check pages (docs/checks/<id>.md) are under, for SARIF helpUri and markdown links (default: the package repository)')
    .option('--fail-on <severity>', `exit 1 when a finding at or above this remains: ${FAIL_ON.join(' | ')}`, 'error')
    .option('--only <ids>', 'run only these checks (comma-separated ids)')
    .option('--skip <ids>', 'skip these checks (comma-separated ids)')
    .option('--waivers <file>', 'YAML/JSON list of { check, object, reason, expires }')
    .option('--baseline <file>', 'accept the findings recorded there (fingerprints); fail only on new ones')
    .option('--write-baseline <file>', 'record the current findings as the baseline')
    .option('--statement-timeout <ms>', 'statement_timeout of every check query', '300000')
    .option('--concurrency <n>', 'connections sharing the snapshot: one reads the catalog, the others run the data queries (default: 2, with --since 3)')
    .option('--target <target>', 'also run the checks of a target: citus (what blocks distributing the tables with Citus; implied by distribution: citus in the manifest)')
    .option(
      '--deep',
      'scan the data checks even where constraints prove them (after a logical-replication catch-up, a restore, or writes with session_replication_role = replica)',
    )
    .option('--since <file>', 're-check the data only for rows changed since the audit whose --format json report this is (falls back to full per table, saying why)')
    // A function: the check files are read only when the help is shown.
    .addHelpText(
      'after',
      () => `
Checks (ids for --only / --skip / waivers; docs/checks/<id>.md explains each):
${readChecksSync()}
Exit codes: 0 no finding at or above --fail-on (waived and baseline findings do not count);
1 findings at or above it; 2 could not run (manifest, connection, privilege, a check failed,
no scoped table exists or no check selected: an audit of nothing is not a pass).

Examples:
  $ crm-tenancy audit
  $ crm-tenancy audit --format sarif --output tenancy.sarif --fail-on never
  $ crm-tenancy audit --report sarif=tenancy.sarif --report markdown=tenancy.md --report junit=tenancy.xml
  $ crm-tenancy audit --deep                      # after a restore or a logical-replication catch-up
  $ crm-tenancy audit --target citus              # before distributing with Citus: what blocks it
  $ crm-tenancy audit --format markdown >> "$GITHUB_STEP_SUMMARY"
  $ crm-tenancy audit --only null-tenant,cross-tenant-reference --format json | jq '.summary'
  $ crm-tenancy audit --format json -o audit.json && crm-tenancy audit --since audit.json
  $ crm-tenancy audit --write-baseline tenancy-baseline.json && crm-tenancy audit --baseline tenancy-baseline.json`,
    )
    .action(
      lazyAction(() => import('../actions/audit.js'), {
        quiet: ([opts]: [AuditCliOptions]) => (Boolean(opts.json) || (opts.format ?? 'table') !== 'table') && !opts.output,
      }),
    );
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
