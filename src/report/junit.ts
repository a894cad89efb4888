// JUnit XML (GitLab test reports, Jenkins): a test suite per check, a test case per table.
import type { AuditResult } from '../audit/types.js';

const escapeXml = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;')
    // XML 1.0 forbids most control characters.
    .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F]/g, '');

export function renderJunit(result: AuditResult): string {
  const lines: string[] = ['<?xml version="1.0" encoding="UTF-8"?>'];
  const suites: string[] = [];
  let total = 0;
  let failures = 0;
  for (const check of result.checks) {
    const findings = result.findings.filter((f) => f.check === check.id);
    // One case per table the check judged, plus one per finding without a table (roles, schema).
    const cases: { name: string; failure?: string; skipped?: string }[] = [];
    const tables = new Set(result.tables);
    for (const f of findings) if (f.table) tables.add(f.table);
    for (const table of tables) {
      const own = findings.filter((f) => f.table === table);
      const gating = own.filter((f) => !f.waived && f.severity !== 'info');
      cases.push({
        name: table,
        ...(gating.length > 0 ? { failure: gating.map((f) => `[${f.severity}] ${f.message}`).join('\n') } : {}),
        ...(gating.length === 0 && own.some((f) => f.waived) ? { skipped: `waived: ${own.find((f) => f.waived)!.waived!.reason}` } : {}),
      });
    }
    for (const f of findings.filter((x) => !x.table)) {
      cases.push({
        name: f.object ?? result.schema,
        ...(!f.waived && f.severity !== 'info' ? { failure: `[${f.severity}] ${f.message}` } : {}),
      });
    }
    const failed = cases.filter((c) => c.failure).length;
    total += cases.length;
    failures += failed;
    const body = cases
      .map((c) => {
        const open = `    <testcase classname="crm-tenancy.${escapeXml(check.id)}" name="${escapeXml(c.name)}">`;
        if (c.failure) {
          return `${open}\n      <failure message="${escapeXml(check.title)}" type="${escapeXml(check.severity)}">${escapeXml(`${c.failure}\nFix: ${check.remediation}`)}</failure>\n    </testcase>`;
        }
        if (c.skipped) return `${open}\n      <skipped message="${escapeXml(c.skipped)}"/>\n    </testcase>`;
        return `${open}</testcase>`;
      })
      .join('\n');
    suites.push(`  <testsuite name="${escapeXml(check.id)}" tests="${cases.length}" failures="${failed}" errors="0">\n${body}\n  </testsuite>`);
  }
  lines.push(
    `<testsuites name="crm-tenancy audit" tests="${total}" failures="${failures}" errors="0" time="${(result.summary.durationMs / 1000).toFixed(3)}">`,
  );
  lines.push(...suites, '</testsuites>');
  return `${lines.join('\n')}\n`;
}
