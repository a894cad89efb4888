// JUnit XML (GitLab test reports, Jenkins): a test suite per check, a test case per table. Only findings
// at or above --fail-on fail; lower ones pass with the finding in <system-out>; waived ones are skipped.
import type { AuditResult, Finding, Severity } from '../audit/types.js';
import { severityRank } from '../audit/types.js';

const escapeXml = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;')
    // XML 1.0 forbids most control characters.
    .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F]/g, '');

const seconds = (ms: number): string => (ms / 1000).toFixed(3);

interface Case {
  name: string;
  /** Set when the check ran a query of its own for this table (data checks: one per table). */
  ms?: number;
  failure?: string;
  /** The worst severity among the failing findings. */
  type?: Severity;
  out?: string;
  skipped?: string;
}

export function renderJunit(result: AuditResult): string {
  const failOn = result.summary.failOn;
  const gates = (severity: Severity): boolean => failOn !== 'never' && severityRank[severity] >= severityRank[failOn];
  const line = (f: Finding): string => `[${f.severity}] ${f.message}`;
  const bare = (table: string): string => (table.startsWith(`${result.schema}.`) ? table.slice(result.schema.length + 1) : table);
  const suites: string[] = [];
  let total = 0;
  let failures = 0;
  let skippedTotal = 0;
  for (const check of result.checks) {
    const findings = result.findings.filter((f) => f.check === check.id);
    const runs = result.runs.filter((r) => r.check === check.id);
    const judge = (name: string, own: Finding[], ms?: number): Case => {
      const gating = own.filter((f) => !f.waived && gates(f.severity));
      const below = own.filter((f) => !f.waived && !gates(f.severity));
      const waived = own.filter((f) => f.waived);
      const fix = `Fix: ${check.remediation}`;
      if (gating.length > 0) {
        const type = gating.reduce<Severity>((w, f) => (severityRank[f.severity] > severityRank[w] ? f.severity : w), 'info');
        return { name, ms, failure: [...gating.map(line), fix].join('\n'), type, ...(below.length ? { out: notGating(below) } : {}) };
      }
      if (below.length > 0) return { name, ms, out: [notGating(below), ...waived.map((f) => `${line(f)} (waived: ${f.waived!.reason})`), fix].join('\n') };
      if (waived.length > 0) return { name, ms, skipped: `waived: ${waived[0].waived!.reason}` };
      return { name, ms };
    };
    const notGating = (below: Finding[]): string => below.map((f) => `${line(f)} (not gating: --fail-on ${failOn})`).join('\n');
    // One case per table the check judged, plus one per finding without a table (roles, schema).
    const cases: Case[] = [];
    const tables = new Set(result.tables);
    for (const f of findings) if (f.table) tables.add(f.table);
    for (const table of tables) {
      const own = runs.filter((r) => r.target === bare(table));
      cases.push(judge(table, findings.filter((f) => f.table === table), own.length ? own.reduce((sum, r) => sum + r.ms, 0) : undefined));
    }
    for (const f of findings.filter((x) => !x.table)) cases.push(judge(f.object ?? result.schema, [f]));
    const failed = cases.filter((c) => c.failure).length;
    const skipped = cases.filter((c) => c.skipped).length;
    total += cases.length;
    failures += failed;
    skippedTotal += skipped;
    const body = cases
      .map((c) => {
        const open = `    <testcase classname="crm-tenancy.${escapeXml(check.id)}" name="${escapeXml(c.name)}"${c.ms !== undefined ? ` time="${seconds(c.ms)}"` : ''}>`;
        const inner: string[] = [];
        if (c.failure) inner.push(`      <failure message="${escapeXml(check.title)}" type="${c.type}">${escapeXml(c.failure)}</failure>`);
        if (c.skipped) inner.push(`      <skipped message="${escapeXml(c.skipped)}"/>`);
        if (c.out) inner.push(`      <system-out>${escapeXml(c.out)}</system-out>`);
        return inner.length ? `${open}\n${inner.join('\n')}\n    </testcase>` : `${open}</testcase>`;
      })
      .join('\n');
    // The check's time: every query it ran (a catalog check runs one for all tables).
    const ms = runs.reduce((sum, r) => sum + r.ms, 0);
    suites.push(
      `  <testsuite name="${escapeXml(check.id)}" tests="${cases.length}" failures="${failed}" errors="0" skipped="${skipped}" time="${seconds(ms)}">\n${body}\n  </testsuite>`,
    );
  }
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="crm-tenancy audit (--fail-on ${failOn})" tests="${total}" failures="${failures}" errors="0" skipped="${skippedTotal}" time="${seconds(result.summary.durationMs)}">`,
    ...suites,
    '</testsuites>',
  ];
  return `${lines.join('\n')}\n`;
}
