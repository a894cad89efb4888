// Turns the rows of the policy checks (0017–0019) into findings, reading expressions with the parser.
import type { Queryable } from '../db/connection.js';
import { analyzeExpression, type WrapperFunctions } from './policy-expressions.js';
import type { Severity } from './types.js';

export interface RawFinding {
  table_name: string | null;
  object: string | null;
  count: number | null;
  samples: unknown[] | null;
  message: string;
  severity: Severity | null;
}

type Command = 'SELECT' | 'INSERT' | 'UPDATE' | 'DELETE';
const LETTER: Record<Command, string> = { SELECT: 'r', INSERT: 'a', UPDATE: 'w', DELETE: 'd' };
const COMMAND_OF: Record<string, string> = { '*': 'ALL', r: 'SELECT', a: 'INSERT', w: 'UPDATE', d: 'DELETE' };

interface PolicyRow {
  name: string;
  command: string;
  permissive?: boolean;
  using: string | null;
  check: string | null;
  roles?: string[];
  /** The application roles it applies to (directly, PUBLIC, or through membership). */
  app_roles?: string[];
}

/** The expressions PostgreSQL evaluates for a command (WITH CHECK falls back to USING for ALL/UPDATE). */
function relevantExpressions(policy: PolicyRow, command: Command): string[] {
  const out: (string | null)[] = [];
  if (command === 'SELECT' || command === 'DELETE') out.push(policy.using);
  if (command === 'INSERT') out.push(policy.check ?? (policy.command === 'a' ? null : policy.using));
  if (command === 'UPDATE') out.push(policy.using, policy.check ?? policy.using);
  return out.filter((e): e is string => e !== null);
}

const applies = (policy: PolicyRow, command: Command) => policy.command === '*' || policy.command === LETTER[command];

/** `sharedNull`: a SELECT on a shared_rows table, where `column IS NULL` (the shared rows) is allowed too. */
async function allScoped(expressions: string[], column: string, setting: string, wrappers?: WrapperFunctions, sharedNull = false): Promise<boolean> {
  if (expressions.length === 0) return false;
  for (const e of expressions) {
    const analysis = await analyzeExpression(e, column, setting, wrappers);
    if (!(sharedNull ? analysis.scopedOrShared : analysis.scoped)) return false;
  }
  return true;
}

/** Some policy contains the tenant comparison (widened or not: widening is 0018's finding). */
async function anyComparesTenant(policies: PolicyRow[], column: string, setting: string, wrappers?: WrapperFunctions): Promise<boolean> {
  for (const p of policies) {
    for (const e of [p.using, p.check]) if (e && (await analyzeExpression(e, column, setting, wrappers)).comparesTenant) return true;
  }
  return false;
}

/**
 * 0017 policy-not-tenant-scoped: per (table, app role), the granted commands no policy scopes, and
 * the permissive policies that compare the tenant column with the setting in a way other tenants'
 * rows satisfy (`>=`, `<>`, `IN (<setting>, 2)`, a negated equality).
 */
export async function policyNotTenantScoped(
  rows: { table_name: string; role: string; compared_column: string; granted: string[]; policies: PolicyRow[] }[],
  setting: string,
  wrappers?: WrapperFunctions,
): Promise<RawFinding[]> {
  const findings: RawFinding[] = [];
  for (const row of rows) {
    const unscoped: string[] = [];
    /** `policy p compares company_id >= app.t` → the commands it applies to. */
    const wide = new Map<string, string[]>();
    for (const command of row.granted as Command[]) {
      const policies = row.policies.filter((p) => applies(p, command));
      // No permissive policy with an expression for the command (e.g. FOR INSERT without WITH CHECK): denied.
      if (!policies.some((p) => p.permissive && relevantExpressions(p, command).length > 0)) continue;
      if (!(await anyComparesTenant(policies, row.compared_column, setting, wrappers))) unscoped.push(command);
      for (const p of policies.filter((x) => x.permissive)) {
        for (const e of relevantExpressions(p, command)) {
          for (const w of (await analyzeExpression(e, row.compared_column, setting, wrappers)).wideComparisons) {
            const key = `policy ${p.name} compares ${w}`;
            const commands = wide.get(key) ?? [];
            if (!commands.includes(command)) commands.push(command);
            wide.set(key, commands);
          }
        }
      }
    }
    if (unscoped.length === 0 && wide.size === 0) continue;
    const parts: string[] = [];
    if (unscoped.length > 0) {
      parts.push(`no policy for ${row.role} compares ${row.compared_column} with ${setting} for ${unscoped.join(', ')}: those rows are not confined to the tenant`);
    }
    for (const [what, commands] of wide) parts.push(`${what} (${commands.join(', ')}): rows of other tenants match it`);
    const commands = (['SELECT', 'INSERT', 'UPDATE', 'DELETE'] as const).filter((c) => unscoped.includes(c) || [...wide.values()].some((w) => w.includes(c)));
    findings.push({ table_name: row.table_name, object: row.role, count: null, samples: commands, message: parts.join('; '), severity: null });
  }
  return findings;
}

/** 0018 permissive-policy-bypass: permissive policies wider than the tenant predicate. */
export async function permissivePolicyBypass(
  rows: {
    table_name: string;
    policy: string;
    command: string;
    compared_column: string;
    using_expr: string | null;
    check_expr: string | null;
    app_roles: string[];
    bypass_roles: string[];
    roles: string[];
    restrictive: PolicyRow[];
    /** The table is shared_rows: its reads may admit the NULL-tenant rows. */
    shared_rows?: boolean;
  }[],
  setting: string,
  bypassReasons: Map<string, string>,
  wrappers?: WrapperFunctions,
): Promise<RawFinding[]> {
  const findings: RawFinding[] = [];
  const bypassTables = new Map<string, string[]>();
  for (const row of rows) {
    const policy: PolicyRow = { name: row.policy, command: row.command, using: row.using_expr, check: row.check_expr, permissive: true };
    const commands = (row.command === '*' ? ['SELECT', 'INSERT', 'UPDATE', 'DELETE'] : [COMMAND_OF[row.command]]) as Command[];
    const wider: string[] = [];
    for (const command of commands) {
      const exprs = relevantExpressions(policy, command);
      const sharedNull = row.shared_rows === true && command === 'SELECT';
      if (exprs.length === 0 || (await allScoped(exprs, row.compared_column, setting, wrappers, sharedNull))) continue;
      // A RESTRICTIVE tenant policy for the same command (and roles) is AND-ed in: nothing widens.
      let covered = false;
      for (const r of row.restrictive) {
        // It must restrict every application role the permissive policy opens the rows to.
        const sameRoles = row.app_roles.every((x) => r.app_roles?.includes(x));
        if (applies(r, command) && sameRoles && (await allScoped(relevantExpressions(r, command), row.compared_column, setting, wrappers, sharedNull))) {
          covered = true;
          break;
        }
      }
      if (!covered) wider.push(command);
    }
    if (wider.length === 0) continue;
    const what = describeWidening(row.using_expr, row.check_expr);
    if (row.app_roles.length > 0) {
      findings.push({
        table_name: row.table_name,
        object: row.policy,
        count: null,
        samples: wider,
        message: `permissive policy ${row.policy} (${row.roles.join(', ')}) is wider than the tenant predicate for ${wider.join(', ')} (${what}): OR-ed with the tenant policy, it opens other tenants' rows to ${row.app_roles.join(', ')}`,
        severity: null,
      });
    } else if (row.bypass_roles.length > 0 && row.roles.every((r) => row.bypass_roles.includes(r))) {
      for (const role of row.bypass_roles) {
        const tables = bypassTables.get(role) ?? [];
        tables.push(row.table_name);
        bypassTables.set(role, tables);
      }
    }
  }
  // One info per bypass role (it is allowed by the manifest), naming the tables it sees in full.
  for (const [role, tables] of bypassTables) {
    const unique = [...new Set(tables)].sort();
    findings.push({
      table_name: null,
      object: role,
      count: unique.length,
      samples: unique.slice(0, 5),
      message: `bypass role ${role} sees every tenant of ${unique.length} table${unique.length === 1 ? '' : 's'} through its own policies (${bypassReasons.get(role)})`,
      severity: 'info',
    });
  }
  return findings;
}

function describeWidening(using: string | null, check: string | null): string {
  const parts: string[] = [];
  if (using) parts.push(`USING ${using}`);
  if (check) parts.push(`WITH CHECK ${check}`);
  return parts.join(', ') || 'no expression';
}

/** 0019's rows: one per policy (and per policy of a partition), with both expressions. */
export interface SettingReadRow {
  table_name: string;
  policy: string;
  compared_column?: string;
  using_expr: string | null;
  check_expr: string | null;
  volatile_functions: string[];
}

/**
 * 0019 unsafe-setting-read: how each policy reads the setting. A tenant equality whose value can
 * be something else than the setting (COALESCE(<setting>, company_id), a CASE branch, a wrapper
 * returning COALESCE(…, 2)) is an error: with no tenant set the predicate is true for every row, or
 * for one fixed tenant's rows. The rest (no missing_ok, a cast without nullif, another setting, a
 * VOLATILE function) are warnings; a read outside a scalar subquery is info.
 */
export async function unsafeSettingRead(
  rows: SettingReadRow[],
  setting: string,
  volatileNames: Set<string>,
  wrappers?: WrapperFunctions,
  /** distribution citus: a read outside a scalar subquery is the only form Citus accepts, not an info. */
  citus = false,
): Promise<RawFinding[]> {
  const findings: RawFinding[] = [];
  for (const row of rows) {
    const errors = new Set<string>();
    const warnings = new Set<string>();
    const infos = new Set<string>();
    for (const expression of [row.using_expr, row.check_expr]) {
      if (!expression) continue;
      const analysis = await analyzeExpression(expression, row.compared_column ?? '', setting, wrappers);
      for (const value of analysis.fallbacks) {
        errors.add(`compares ${row.compared_column} with a value that is not always ${setting}: it can be ${value} (a fallback in COALESCE, CASE, GREATEST/LEAST or a wrapper function): with no tenant set, or whenever that value is taken, rows of other tenants match`);
      }
      for (const read of analysis.settingReads) {
        // Another setting is only wrong where it stands in for the tenant: compared with the tenant column.
        if (read.name !== null && read.name !== setting) {
          const tenantColumn = row.compared_column;
          if (!tenantColumn || (await analyzeExpression(expression, tenantColumn, read.name, wrappers)).comparesTenant) {
            warnings.add(`reads ${read.name}, but the application sets ${setting}`);
          }
        }
        if (!read.missingOk) warnings.add('current_setting() without missing_ok raises an error when no tenant is set');
        if (read.castWithoutNullif) warnings.add("casts the setting without nullif(…, ''): '' (left by an earlier SET LOCAL) raises");
        if (!read.inSubselect && !citus) infos.add('the setting is read outside a scalar subquery (it may be evaluated once per row)');
      }
      for (const fn of analysis.functions) if (volatileNames.has(fn)) warnings.add(`calls VOLATILE function ${fn}() for every row`);
    }
    for (const fn of row.volatile_functions) warnings.add(`calls VOLATILE function ${fn} for every row`);
    // A user function found through pg_depend is named with its signature: drop the bare-name duplicate.
    for (const fn of row.volatile_functions) {
      const bare = fn.slice(0, fn.indexOf('(')).split('.').pop()!.replace(/^"|"$/g, '').toLowerCase();
      warnings.delete(`calls VOLATILE function ${bare}() for every row`);
    }
    if (errors.size === 0 && warnings.size === 0 && infos.size === 0) continue;
    findings.push({
      table_name: row.table_name,
      object: row.policy,
      count: null,
      samples: [],
      message: `policy ${row.policy}: ${[...errors, ...warnings, ...infos].join('; ')}`,
      severity: errors.size > 0 ? 'error' : warnings.size > 0 ? null : 'info',
    });
  }
  return findings;
}

/** The names of the functions the policies call that are VOLATILE in every overload (0019 reads them on the audit's connection). */
export async function volatileFunctionNames(client: Queryable, rows: SettingReadRow[], setting: string, wrappers?: WrapperFunctions): Promise<Set<string>> {
  const names = new Set<string>();
  for (const row of rows) {
    for (const e of [row.using_expr, row.check_expr]) if (e) for (const f of (await analyzeExpression(e, '', setting, wrappers)).functions) names.add(f);
  }
  const volatile = await client.query<{ proname: string }>(
    `SELECT proname::text FROM pg_catalog.pg_proc WHERE proname = ANY ($1::text[])
      GROUP BY proname HAVING bool_and(provolatile = 'v')`,
    [[...names]],
  );
  return new Set(volatile.rows.map((r) => r.proname));
}
