// The coverage matrix: tables × checks, pass / fail / waived / n/a, from an audit result.
import type { AuditResult, Finding } from '../audit/types.js';

export type Cell = 'pass' | 'fail' | 'warn' | 'waived' | 'info';

export interface CoverageMatrix {
  checks: string[];
  rows: { table: string; cells: Record<string, Cell> }[];
}

/** Checks that judge individual tables (the others name roles, or the whole schema). */
const TABLE_CHECKS_EXCLUDED = new Set(['app-role-bypasses-rls', 'untracked-table', 'tenant-setting-default', 'state-schema-exposed']);

export function coverageMatrix(result: AuditResult): CoverageMatrix {
  const checks = result.checks.map((c) => c.id).filter((id) => !TABLE_CHECKS_EXCLUDED.has(id));
  const byCell = new Map<string, Finding[]>();
  for (const f of result.findings) {
    if (!f.table) continue;
    const key = `${f.table}\u0000${f.check}`;
    byCell.set(key, [...(byCell.get(key) ?? []), f]);
  }
  const rows = result.tables.map((table) => {
    const cells: Record<string, Cell> = {};
    for (const check of checks) {
      const found = byCell.get(`${table}\u0000${check}`) ?? [];
      const active = found.filter((f) => !f.waived);
      cells[check] = active.some((f) => f.severity === 'error')
        ? 'fail'
        : active.some((f) => f.severity === 'warning')
          ? 'warn'
          : found.some((f) => f.waived)
            ? 'waived'
            : active.length > 0
              ? 'info'
              : 'pass';
    }
    return { table, cells };
  });
  return { checks, rows };
}
