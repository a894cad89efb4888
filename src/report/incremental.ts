// The text report's lines for `audit --since`: per table, incremental (N changed rows) or full and why.
import type { AuditResult } from '../audit/types.js';

/** Empty without --since. */
export function incrementalLines(result: AuditResult): string[] {
  const report = result.incremental;
  if (!report) return [];
  const out = ['', `since ${report.since}:${report.global ? ` every data check in full: ${report.global}` : ''}`];
  const width = Math.max(...report.tables.map((t) => t.table.length), 0);
  for (const t of report.tables) {
    const head = `  ${t.table.padEnd(width)}  `;
    if (t.mode === 'incremental') out.push(`${head}incremental (${(t.changedRows ?? 0).toLocaleString('en-US')} changed row${t.changedRows === 1 ? '' : 's'})`);
    else if (t.mode === 'none') out.push(`${head}no data check reads its rows`);
    else if (report.global) out.push(`${head}full`);
    else out.push(`${head}full: ${t.reasons[0]}`, ...t.reasons.slice(1).map((r) => `${''.padEnd(head.length)}full: ${r}`));
  }
  return out;
}
