// The README's table of checks, generated from the check files' headers (so the two cannot drift).
import type { CheckDefinition } from '../audit/types.js';

/** Where the generated table sits in the README. */
export const CHECK_TABLE_START = '<!-- check-table:start (generated from audits/*.sql by `npx tsx scripts/check-table.ts`; do not edit by hand) -->';
export const CHECK_TABLE_END = '<!-- check-table:end -->';

const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/**
 * One row per check, in file order: id (linked to its doc page), severity, kind, title, remediation.
 *
 * @example renderCheckTable(await loadChecks()) // => '| check | severity | kind | finds | fix |\n|---|---|---|---|---|\n| [`missing-table`](docs/checks/missing-table.md) | error | …'
 */
export function renderCheckTable(checks: readonly CheckDefinition[]): string {
  const rows = checks.map((c) => `| [\`${c.id}\`](${c.docs}) | ${c.severity} | ${c.kind} | ${cell(c.title)} | ${cell(c.remediation)} |`);
  return ['| check | severity | kind | finds | fix |', '|---|---|---|---|---|', ...rows].join('\n');
}

/** The README with the table between the markers replaced (throws when the markers are missing). */
export function replaceCheckTable(readme: string, table: string): string {
  const start = readme.indexOf(CHECK_TABLE_START);
  const end = readme.indexOf(CHECK_TABLE_END);
  if (start < 0 || end < start) throw new Error(`README.md has no ${CHECK_TABLE_START} … ${CHECK_TABLE_END} block`);
  return `${readme.slice(0, start + CHECK_TABLE_START.length)}\n${table}\n${readme.slice(end)}`;
}
