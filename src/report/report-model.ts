// Pure views of an audit result that every renderer shares: findings by table, the coverage matrix.
import type { AuditResult, Finding, Severity } from '../audit/types.js';
import { severityRank } from '../audit/types.js';

/** One cell of the coverage matrix: the worst outcome of a check on a table. */
export type CoverageCell = 'pass' | 'error' | 'warning' | 'info' | 'waived';

export interface CoverageMatrix {
  /** Check ids, in check order (columns). */
  checks: string[];
  /** One row per audited table (schema-qualified), then one per other object named by a finding. */
  rows: { table: string; cells: CoverageCell[] }[];
}

/** The findings that gate (not waived, not accepted by the baseline). */
export function activeFindings(result: AuditResult): Finding[] {
  return result.findings.filter((f) => !f.waived);
}

/** The row a finding belongs to: its table, else the role / view / function it names, else the database. */
export function findingSubject(f: Finding): string {
  return f.table ?? f.object ?? '(database)';
}

/**
 * Findings grouped by table (the tables in the result's order first, then other subjects sorted),
 * each group in check order.
 */
export function findingsByTable(result: AuditResult): { subject: string; findings: Finding[] }[] {
  const groups = new Map<string, Finding[]>();
  for (const t of result.tables) groups.set(t, []);
  for (const f of result.findings) {
    const key = findingSubject(f);
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key)!.push(f);
  }
  const known = new Set(result.tables);
  const order = [...result.tables, ...[...groups.keys()].filter((k) => !known.has(k)).sort()];
  return order.map((subject) => ({ subject, findings: groups.get(subject)! })).filter((g) => g.findings.length > 0);
}

function worse(a: CoverageCell, f: Finding): CoverageCell {
  const cell: CoverageCell = f.waived ? 'waived' : f.severity;
  const rank = (c: CoverageCell) => (c === 'pass' ? 0 : c === 'waived' ? 0.5 : severityRank[c as Severity]);
  return rank(cell) > rank(a) ? cell : a;
}

/** Tables × checks: pass, or the worst severity found (waived when every finding there is waived). */
export function coverageMatrix(result: AuditResult): CoverageMatrix {
  const checks = result.checks.map((c) => c.id);
  const subjects = [...result.tables];
  for (const f of result.findings) if (!subjects.includes(findingSubject(f))) subjects.push(findingSubject(f));
  const rows = subjects.map((table) => ({
    table,
    cells: checks.map((check) =>
      result.findings.filter((f) => f.check === check && findingSubject(f) === table).reduce<CoverageCell>(worse, 'pass'),
    ),
  }));
  return { checks, rows };
}

/** True when this finding makes the gate fail at the result's --fail-on level. */
export function isFailing(f: Finding, failOn: Severity | 'never'): boolean {
  return !f.waived && failOn !== 'never' && severityRank[f.severity] >= severityRank[failOn];
}

/** One line: "3 errors, 2 warnings, 1 info, 4 waived". */
export function summaryLine(result: AuditResult): string {
  const s = result.summary;
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  return [plural(s.error, 'error'), plural(s.warning, 'warning'), `${s.info} info`, `${s.waived} waived`].join(', ');
}
