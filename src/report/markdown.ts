// Markdown for PR comments and $GITHUB_STEP_SUMMARY: the verdict of --fail-on, findings grouped by check with the fix, absolute links.
import type { AuditResult, CheckDefinition, Finding, Severity } from '../audit/types.js';
import { severityRank } from '../audit/types.js';
import { coverageMatrix } from './coverage.js';
import { docsUrl } from './docs-url.js';
import { DEEP_HINT, anyProven, dataCheckLines } from './proofs.js';

const ICON: Record<Severity, string> = { error: '🔴', warning: '🟠', info: '🔵' };
const CELL: Record<string, string> = { pass: '✅', fail: '❌', warn: '⚠️', waived: '💤', info: 'ℹ️' };
const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;
const SEVERITY_WORDS: Record<Severity, (n: number) => string> = {
  error: (n) => plural(n, 'error'),
  warning: (n) => plural(n, 'warning'),
  info: (n) => `${n} info`,
};

export interface MarkdownOptions {
  /** Web address docs/checks/<id>.md is appended to: links are absolute (they must work in a CI job summary). */
  docsBaseUrl?: string;
}

/** Does a finding of this severity fail the run under --fail-on? */
const gates = (severity: Severity, failOn: Severity | 'never'): boolean => failOn !== 'never' && severityRank[severity] >= severityRank[failOn];

/**
 * The heading's verdict, from --fail-on: failed (findings at or above it), passed (none at or above
 * it; findings below it said so), or not gating (`--fail-on never` with findings: never "passed").
 */
export function markdownVerdict(result: AuditResult): string {
  const s = result.summary;
  const counts = (['error', 'warning', 'info'] as const).filter((sev) => s[sev] > 0).map((sev) => SEVERITY_WORDS[sev](s[sev]));
  const gate = `\`--fail-on ${s.failOn}\``;
  if (s.failing > 0) return `❌ failed — ${plural(s.failing, 'finding')} at or above ${gate}`;
  if (counts.length === 0) return `✅ passed — no findings (${gate})`;
  if (s.failOn === 'never') return `⚠️ not gating — ${counts.join(', ')} found; ${gate} fails on nothing`;
  return `✅ passed — nothing at or above ${gate}; ${counts.join(', ')} below it`;
}

export function renderMarkdown(result: AuditResult, options: MarkdownOptions = {}): string {
  const s = result.summary;
  const link = (c: { id: string; docs: string }): string => `[${c.id}](${docsUrl(options.docsBaseUrl, c.docs)})`;
  const out: string[] = [];
  out.push(`## crm-tenancy audit: ${markdownVerdict(result)}`, '');
  const gating = (['error', 'warning', 'info'] as const).filter((sev) => gates(sev, s.failOn) && s[sev] > 0);
  const below = (['error', 'warning', 'info'] as const).filter((sev) => !gates(sev, s.failOn) && s[sev] > 0);
  out.push(
    `**${s.error}** errors · **${s.warning}** warnings · **${s.info}** info · ${s.waived} waived — ${s.checks} checks on ${s.tables} tables ` +
      `(${s.scannedTables} scanned, ${s.skippedScans} scans proven unnecessary by the catalog${s.deep ? ', --deep' : ''}) in ${(s.durationMs / 1000).toFixed(1)} s, ${s.server}.`,
    '',
    `Gate \`--fail-on ${s.failOn}\`: **${s.failing}** gating${gating.length ? ` (${gating.map((sev) => SEVERITY_WORDS[sev](s[sev])).join(', ')})` : ''}; ` +
      `not gating: ${below.length ? below.map((sev) => SEVERITY_WORDS[sev](s[sev])).join(', ') : 'none'}${s.waived ? `, ${s.waived} waived` : ''}.`,
    '',
  );
  if (result.dataChecks.length > 0) {
    out.push(...dataCheckLines(result).map((l) => `- ${cell(l)}`), '');
    if (anyProven(result)) out.push(`> ${DEEP_HINT}`, '');
  }
  // One section per check: worst first, then in check order; the fix once per check.
  const active = result.findings.filter((f) => !f.waived);
  const order = new Map(result.checks.map((c, i) => [c.id, i]));
  const groups = new Map<string, Finding[]>();
  for (const f of active) groups.set(f.check, [...(groups.get(f.check) ?? []), f]);
  const sorted = [...groups.entries()].sort(
    ([a, fa], [b, fb]) => severityRank[worst(fb)] - severityRank[worst(fa)] || (order.get(a) ?? 0) - (order.get(b) ?? 0),
  );
  const checks = new Map<string, CheckDefinition>(result.checks.map((c) => [c.id, c]));
  for (const [id, findings] of sorted) {
    const check = checks.get(id) ?? { id, docs: `docs/checks/${id}.md`, title: id, remediation: findings[0].remediation };
    const gatingHere = findings.filter((f) => gates(f.severity, s.failOn)).length;
    const state = gatingHere === findings.length ? 'gating' : gatingHere === 0 ? 'not gating' : `${gatingHere} gating`;
    out.push(
      `### ${ICON[worst(findings)]} ${link(check)} — ${plural(findings.length, 'finding')}, ${state}`,
      '',
      `${check.title}. **Fix:** ${check.remediation}`,
      '',
      '| | table / object | count | finding | samples |',
      '|---|---|---|---|---|',
    );
    for (const f of findings) out.push(row(f));
    out.push('');
  }
  const waived = result.findings.filter((f) => f.waived);
  if (waived.length > 0) {
    out.push('<details><summary>Waived findings</summary>', '', '| check | table / object | reason |', '|---|---|---|');
    for (const f of waived) {
      const check = checks.get(f.check);
      out.push(`| ${check ? link(check) : f.check} | ${cell([f.table, f.object].filter(Boolean).join(' / '))} | ${cell(f.waived!.reason)} |`);
    }
    out.push('', '</details>', '');
  }
  for (const w of result.expiredWaivers) out.push(`> ⏰ waiver for \`${w.check}\` on \`${w.object}\` expired on ${w.expires}: it no longer waives.`);
  for (const w of result.unusedWaivers) out.push(`> 💤 waiver for \`${w.check}\` on \`${w.object}\` matched nothing: remove it.`);
  const matrix = coverageMatrix(result);
  out.push('', '<details><summary>Coverage: tables × checks</summary>', '');
  out.push(`| table | ${matrix.checks.join(' | ')} |`, `|---|${matrix.checks.map(() => ':-:').join('|')}|`);
  for (const r of matrix.rows) out.push(`| ${cell(r.table)} | ${matrix.checks.map((c) => CELL[r.cells[c]]).join(' | ')} |`);
  out.push('', '</details>', '');
  return `${out.join('\n')}\n`;
}

function worst(findings: Finding[]): Severity {
  return findings.reduce<Severity>((w, f) => (severityRank[f.severity] > severityRank[w] ? f.severity : w), 'info');
}

function row(f: Finding): string {
  const where = [f.table, f.object].filter(Boolean).join(' / ');
  return `| ${ICON[f.severity]} | ${cell(where)} | ${f.count ?? ''} | ${cell(f.message)} | ${cell(f.samples.length ? JSON.stringify(f.samples) : '')} |`;
}
