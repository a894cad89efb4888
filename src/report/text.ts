// The audit result as plain text (no colours, no tables library): for logs, files and the demo.
import type { AuditResult } from '../audit/types.js';
import { coverageMatrix, type Cell } from './coverage.js';
import { DEEP_HINT, anyProven, dataCheckLines } from './proofs.js';
import { incrementalLines } from './incremental.js';
import { groupedFindingLines, summaryLines, textVerdict } from './text-grouped.js';

/** One character per coverage cell. */
export const CELL_MARK: Record<Cell, string> = { pass: '.', fail: 'E', warn: 'W', info: 'i', waived: '~' };

/** Pads every column but the last to its widest cell (by code points). */
export function alignColumns(rows: string[][], gap = ' '): string[] {
  const widths: number[] = [];
  for (const r of rows) for (const [i, c] of r.entries()) widths[i] = Math.max(widths[i] ?? 0, [...c].length);
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c + ' '.repeat(widths[i] - [...c].length))).join(gap).trimEnd());
}

/**
 * Renders the plain-text report. By default what a reviewer reads to the end: the verdict, how each
 * data check knew its answer, every error (grouped by table and check), warnings and info one line
 * per check, waiver problems, and a one-screen summary. `verbose`: every finding with its message
 * and samples, grouped by table (then by role, view or function), and the coverage matrix (tables ×
 * numbered checks; `.` pass, E error, W warning, i info, ~ waived) with the check legend, then the summary.
 *
 * @example renderText(result) // => 'crm-tenancy audit of public: FAILED — 47 errors, 74 warnings, 0 info, 0 waived\n…'
 */
export function renderText(result: AuditResult, options: { verbose?: boolean } = {}): string {
  const verbose = options.verbose ?? false;
  const s = result.summary;
  const out: string[] = [];
  out.push(
    `crm-tenancy audit of ${result.schema}: ${textVerdict(result)} — ` +
      `${s.error} errors, ${s.warning} warnings, ${s.info} info, ${s.waived} waived (--fail-on ${s.failOn})`,
    `${s.checks} checks on ${s.tables} tables (${s.scannedTables} scanned, ${s.skippedScans} scans proved unnecessary${s.deep ? ', --deep' : ''}) in ${(s.durationMs / 1000).toFixed(1)} s, ${s.server}`,
  );
  if (result.dataChecks.length > 0) {
    out.push('', 'data checks:', ...dataCheckLines(result).map((l) => `  ${l}`));
    if (anyProven(result)) out.push(`  (${DEEP_HINT})`);
  }
  out.push(...incrementalLines(result));
  if (!verbose) {
    out.push(...groupedFindingLines(result), ...waiverProblemLines(result), ...summaryLines(result, false));
    return `${out.join('\n')}\n`;
  }
  const groups = new Map<string, typeof result.findings>();
  for (const f of result.findings) {
    const key = f.table ?? f.object ?? '(database)';
    groups.set(key, [...(groups.get(key) ?? []), f]);
  }
  const rank = (k: string) => (result.tables.includes(k) ? result.tables.indexOf(k) : result.tables.length);
  for (const [subject, findings] of [...groups].sort((a, b) => rank(a[0]) - rank(b[0]) || a[0].localeCompare(b[0]))) {
    out.push('', subject);
    for (const f of findings) {
      const tag = f.waived ? `waived ${f.severity}` : f.severity;
      out.push(`  ${tag.padEnd(15)} ${f.check}${f.count === null ? '' : ` [${f.count}]`}: ${f.message}`);
      if (f.samples.length > 0) out.push(`  ${''.padEnd(15)} samples: ${JSON.stringify(f.samples)}`);
      if (f.waived) out.push(`  ${''.padEnd(15)} waived (${f.waived.by}): ${f.waived.reason}`);
    }
  }
  out.push(...waiverProblemLines(result));
  const matrix = coverageMatrix(result);
  out.push('', 'coverage (. pass, E error, W warning, i info, ~ waived):');
  out.push(
    ...alignColumns([
      ['', ...matrix.checks.map((_, i) => String(i + 1))],
      ...matrix.rows.map((r) => [r.table, ...matrix.checks.map((id) => CELL_MARK[r.cells[id]].padStart(String(matrix.checks.indexOf(id) + 1).length))]),
    ]),
  );
  out.push(...matrix.checks.map((id, i) => `  ${String(i + 1).padStart(2)} ${id}`));
  out.push(...summaryLines(result, true));
  return `${out.join('\n')}\n`;
}

/** Waivers that expired or matched nothing: each is a line to act on. */
function waiverProblemLines(result: AuditResult): string[] {
  const lines = [
    ...result.expiredWaivers.map((w) => `expired waiver: ${w.check} on ${w.object} (${w.expires}) no longer waives`),
    ...result.unusedWaivers.map((w) => `unused waiver: ${w.check} on ${w.object} matched nothing`),
  ];
  return lines.length > 0 ? ['', ...lines] : [];
}
