// The default audit text: every error grouped by table and check, warnings and info one line per check, and a one-screen summary.
import type { AuditResult, Finding, Severity } from '../audit/types.js';

/** Lines are kept to this many characters where the report itself decides the breaks (names wrap). */
export const TEXT_WIDTH = 110;

/** Wraps names (comma-separated) into lines of at most `width` characters, each starting with `indent`. */
export function wrapNames(names: readonly string[], indent: string, width = TEXT_WIDTH): string[] {
  const lines: string[] = [];
  let line = '';
  for (const [i, name] of names.entries()) {
    const item = i < names.length - 1 ? `${name},` : name;
    if (line && indent.length + line.length + 1 + item.length > width) {
      lines.push(indent + line);
      line = item;
    } else line = line ? `${line} ${item}` : item;
  }
  if (line) lines.push(indent + line);
  return lines;
}

/** As many names as fit in `room` characters, then `… +n`. */
function someNames(names: readonly string[], room: number): string {
  let out = '';
  for (const [i, name] of names.entries()) {
    const rest = names.length - i - 1;
    const next = out ? `${out}, ${name}` : name;
    const suffix = rest > 0 ? `, … +${rest}` : '';
    if (out && next.length + suffix.length > room) return `${out}, … +${names.length - i}`;
    out = next;
  }
  return out;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
const subjectOf = (f: Finding) => f.table ?? f.object ?? '(database)';

/** Samples as compact JSON, cut to `max` characters (the full list is in --verbose and --format json). */
function samplesText(samples: readonly unknown[], max = 90): string {
  const text = JSON.stringify(samples);
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/**
 * The text an error has on every table it is found on, the table's name set aside: equal texts on
 * several tables print once, with the list of tables. Undefined for an error with a count, samples,
 * or an object its message does not name (those are shown one by one).
 */
function sharedText(f: Finding): string | undefined {
  if (f.count !== null || f.samples.length > 0 || !f.table) return undefined;
  if (f.object !== null && !f.message.includes(f.object)) return undefined;
  return f.message.split(f.table).join('<table>');
}

/** Orders subjects as the result lists its tables, then the rest by name. */
function bySubject(result: AuditResult): (a: string, b: string) => number {
  const rank = (k: string) => (result.tables.includes(k) ? result.tables.indexOf(k) : result.tables.length);
  return (a, b) => rank(a) - rank(b) || a.localeCompare(b);
}

/** Every active error: the ones shared by several tables once each, then the rest by table and check. */
function errorLines(result: AuditResult, errors: Finding[]): string[] {
  const out: string[] = [];
  const shared = new Map<string, Finding[]>();
  for (const f of errors) {
    const text = sharedText(f);
    if (text === undefined) continue;
    const key = `${f.check}\u0000${text}`;
    shared.set(key, [...(shared.get(key) ?? []), f]);
  }
  const grouped = new Set<Finding>();
  for (const [key, findings] of shared) {
    const tables = [...new Set(findings.map((f) => f.table!))];
    if (tables.length < 2) continue;
    const [check, text] = key.split('\u0000');
    out.push(`  ${check} on ${plural(tables.length, 'table')}: ${text}`);
    out.push(...wrapNames(tables.sort(bySubject(result)), '      '));
    for (const f of findings) grouped.add(f);
  }
  const bySubjectMap = new Map<string, Finding[]>();
  for (const f of errors.filter((x) => !grouped.has(x))) bySubjectMap.set(subjectOf(f), [...(bySubjectMap.get(subjectOf(f)) ?? []), f]);
  for (const subject of [...bySubjectMap.keys()].sort(bySubject(result))) {
    out.push(`  ${subject}`);
    const checks = new Map<string, Finding[]>();
    for (const f of bySubjectMap.get(subject)!) checks.set(f.check, [...(checks.get(f.check) ?? []), f]);
    for (const [check, findings] of checks) {
      const line = (f: Finding) => `${f.count === null ? '' : `[${f.count}] `}${f.message}${f.samples.length > 0 ? `  samples: ${samplesText(f.samples)}` : ''}`;
      if (findings.length === 1) out.push(`    ${check}: ${line(findings[0])}`);
      else out.push(`    ${check} ×${findings.length}:`, ...findings.map((f) => `      ${line(f)}`));
    }
  }
  return out;
}

/** One line per check: how many findings, on which tables (as many names as fit). */
function checkLines(result: AuditResult, findings: Finding[]): string[] {
  const byCheck = new Map<string, Finding[]>();
  for (const f of findings) byCheck.set(f.check, [...(byCheck.get(f.check) ?? []), f]);
  const order = new Map(result.checks.map((c, i) => [c.id, i]));
  const rows = [...byCheck].sort((a, b) => (order.get(a[0]) ?? 0) - (order.get(b[0]) ?? 0));
  return rows.map(([check, list]) => {
    const subjects = [...new Set(list.map(subjectOf))].sort(bySubject(result));
    const head = `  ${list[0].severity.padEnd(7)} ${check} ×${list.length}: `;
    return head + someNames(subjects, TEXT_WIDTH - head.length);
  });
}

/**
 * The findings of the default report: every active error (by table and check; one entry for an
 * error with the same text on several tables), warnings and info one line per check, waived ones
 * counted. `--verbose` prints every finding instead (see renderText).
 */
export function groupedFindingLines(result: AuditResult): string[] {
  const active = result.findings.filter((f) => !f.waived);
  const errors = active.filter((f) => f.severity === 'error');
  const rest = active.filter((f) => f.severity !== 'error');
  const out: string[] = [];
  if (errors.length > 0) out.push('', `errors (${errors.length}, every one; by table and check):`, ...errorLines(result, errors));
  if (rest.length > 0) out.push('', `warnings and info (${rest.length}; one line per check, every finding with --verbose):`, ...checkLines(result, rest));
  const waived = result.findings.length - active.length;
  if (waived > 0) out.push('', `waived: ${plural(waived, 'finding')} (--verbose lists them with their reasons)`);
  return out;
}

const SEVERITIES: Severity[] = ['error', 'warning', 'info'];

/** The closing summary: the verdict, then findings and tables per check, worst first; fits one screen. */
export function summaryLines(result: AuditResult, verbose: boolean): string[] {
  const s = result.summary;
  const active = result.findings.filter((f) => !f.waived);
  const rows: string[][] = [['', 'check', 'findings', 'tables']];
  const order = new Map(result.checks.map((c, i) => [c.id, i]));
  for (const severity of SEVERITIES) {
    const byCheck = new Map<string, Finding[]>();
    for (const f of active.filter((x) => x.severity === severity)) byCheck.set(f.check, [...(byCheck.get(f.check) ?? []), f]);
    for (const [check, list] of [...byCheck].sort((a, b) => (order.get(a[0]) ?? 0) - (order.get(b[0]) ?? 0))) {
      rows.push([severity, check, String(list.length), String(new Set(list.map((f) => f.table).filter(Boolean)).size)]);
    }
  }
  const out = [
    '',
    `summary: ${textVerdict(result)} — ${plural(s.error, 'error')}, ${plural(s.warning, 'warning')}, ${s.info} info, ${s.waived} waived (--fail-on ${s.failOn})`,
  ];
  if (rows.length > 1) out.push(...alignRight(rows).map((l) => `  ${l}`));
  out.push(
    verbose
      ? 'each check is explained, with its fix, in docs/checks/<check>.md'
      : 'each check is explained, with its fix, in docs/checks/<check>.md; --verbose shows every finding, its samples and the coverage matrix',
  );
  return out;
}

/** Aligns columns: text columns padded right, the numeric ones (the last two) padded left. */
function alignRight(rows: string[][]): string[] {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => (i >= r.length - 2 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd());
}

/** FAILED, PASSED, or NOT GATED: `--fail-on never` with findings is not a pass. */
export function textVerdict(result: AuditResult): string {
  const s = result.summary;
  if (result.exitCode !== 0) return 'FAILED';
  return s.failOn === 'never' && s.error + s.warning + s.info > 0 ? 'NOT GATED' : 'PASSED';
}
