// citus-policy-not-distributable: the policies Citus refuses (or cannot run) on a distributed table.
import { analyzeExpression, type WrapperFunctions } from '../audit/policy-expressions.js';
import type { RawFinding, SettingReadRow } from '../audit/policy-checks.js';

/**
 * One error per policy of a distributed table that holds a subquery (Citus: `unexpected non-SELECT
 * command in SubLink` when the policy is created or the table distributed) or calls a VOLATILE
 * function (refused in the WHERE clause of UPDATE and DELETE on a distributed table, where the
 * policy's USING goes).
 */
export async function citusPolicyNotDistributable(
  rows: SettingReadRow[],
  setting: string,
  volatileNames: Set<string>,
  wrappers?: WrapperFunctions,
): Promise<RawFinding[]> {
  const findings: RawFinding[] = [];
  for (const row of rows) {
    const problems = new Set<string>();
    for (const expression of [row.using_expr, row.check_expr]) {
      if (!expression) continue;
      const analysis = await analyzeExpression(expression, row.compared_column ?? '', setting, wrappers);
      if (analysis.subqueries > 0) problems.add('holds a subquery, which Citus refuses in a policy on a distributed table');
      for (const fn of analysis.functions) if (volatileNames.has(fn)) problems.add(`calls VOLATILE function ${fn}(), which Citus refuses in UPDATE and DELETE on a distributed table`);
    }
    for (const fn of row.volatile_functions) problems.add(`calls VOLATILE function ${fn}, which Citus refuses in UPDATE and DELETE on a distributed table`);
    for (const fn of row.volatile_functions) {
      const bare = fn.slice(0, fn.indexOf('(')).split('.').pop()!.replace(/^"|"$/g, '').toLowerCase();
      problems.delete(`calls VOLATILE function ${bare}(), which Citus refuses in UPDATE and DELETE on a distributed table`);
    }
    if (problems.size === 0) continue;
    findings.push({
      table_name: row.table_name,
      object: row.policy,
      count: null,
      samples: [],
      message: `policy ${row.policy}: ${[...problems].join('; ')}`,
      severity: null,
    });
  }
  return findings;
}
