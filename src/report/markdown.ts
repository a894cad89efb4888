// Markdown for PR comments and $GITHUB_STEP_SUMMARY.
import type { AuditResult, Finding } from '../audit/types.js';
import { coverageMatrix } from './coverage.js';
import { DEEP_HINT, anyProven, dataCheckLines } from './proofs.js';

const ICON: Record<string, string> = { error: '🔴', warning: '🟠', info: '🔵' };
const CELL: Record<string, string> = { pass: '✅', fail: '❌', warn: '⚠️', waived: '💤', info: 'ℹ️' };
const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function renderMarkdown(result: AuditResult): string {
  const s = result.summary;
  const out: string[] = [];
  const verdict = result.exitCode === 0 ? '✅ passed' : '❌ failed';
  out.push(`## crm-tenancy audit: ${verdict}`, '');
  out.push(
    `**${s.error}** errors · **${s.warning}** warnings · **${s.info}** info · ${s.waived} waived — ${s.checks} checks on ${s.tables} tables ` +
      `(${s.scannedTables} scanned, ${s.skippedScans} scans proven unnecessary by the catalog${s.deep ? ', --deep' : ''}) in ${(s.durationMs / 1000).toFixed(1)} s, ${s.server}. Gate: \`--fail-on ${s.failOn}\`.`,
    '',
  );
  if (result.dataChecks.length > 0) {
    out.push(...dataCheckLines(result).map((l) => `- ${cell(l)}`), '');
    if (anyProven(result)) out.push(`> ${DEEP_HINT}`, '');
  }
  const active = result.findings.filter((f) => !f.waived);
  if (active.length > 0) {
    out.push('| | check | table / object | count | finding | samples |', '|---|---|---|---|---|---|');
    for (const f of active) out.push(row(f));
    out.push('');
  }
  const waived = result.findings.filter((f) => f.waived);
  if (waived.length > 0) {
    out.push('<details><summary>Waived findings</summary>', '', '| check | table / object | reason |', '|---|---|---|');
    for (const f of waived) out.push(`| ${f.check} | ${cell([f.table, f.object].filter(Boolean).join(' / '))} | ${cell(f.waived!.reason)} |`);
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

function row(f: Finding): string {
  const where = [f.table, f.object].filter(Boolean).join(' / ');
  return `| ${ICON[f.severity]} | [${f.check}](docs/checks/${f.check}.md) | ${cell(where)} | ${f.count ?? ''} | ${cell(f.message)} | ${cell(f.samples.length ? JSON.stringify(f.samples) : '')} |`;
}
