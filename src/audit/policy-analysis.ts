// Reads policy expressions (pg_get_expr output) with the real PostgreSQL parser and judges them.
import { parse } from 'libpg-query';

/* eslint-disable @typescript-eslint/no-explicit-any */
type Node = any;

/** What the audit needs to know about the tenant predicate it looks for. */
export interface TenantPredicate {
  /** The compared column: the tenant column, or the tenant key on the tenant table. */
  column: string;
  /** The configured setting, e.g. app.current_company_id. */
  setting: string;
}

/** One problem with how an expression reads the tenant setting. */
export interface SettingReadProblem {
  severity: 'warning' | 'info';
  message: string;
}

const parsed = new Map<string, Node | null>();

/**
 * Parses a policy expression (as pg_get_expr prints it) into its parse tree; null for no expression.
 *
 * @example await parseExpression("(company_id = 1)") // => { A_Expr: { kind: 'AEXPR_OP', … } }
 */
export async function parseExpression(expr: string | null): Promise<Node | null> {
  if (expr === null) return null;
  const hit = parsed.get(expr);
  if (hit !== undefined) return hit;
  const tree = await parse(`SELECT ${expr}`);
  const node = (tree as Node).stmts[0].stmt.SelectStmt.targetList[0].ResTarget.val;
  parsed.set(expr, node);
  return node;
}

const lastName = (fields: Node[]): string | undefined => {
  const last = fields[fields.length - 1];
  return last?.String?.sval;
};

const funcName = (node: Node): string | undefined => (node?.FuncCall ? lastName(node.FuncCall.funcname) : undefined);

function stringConst(node: Node): string | undefined {
  if (node?.TypeCast) return stringConst(node.TypeCast.arg);
  if (node?.A_Const?.sval) return node.A_Const.sval.sval;
  return undefined;
}

function boolConst(node: Node): boolean | undefined {
  if (node?.TypeCast) return boolConst(node.TypeCast.arg);
  if (node?.A_Const?.boolval !== undefined) return node.A_Const.boolval.boolval === true;
  if (node?.A_Const?.sval) {
    const v = String(node.A_Const.sval.sval).toLowerCase();
    if (['t', 'true', 'on', 'yes', '1'].includes(v)) return true;
    if (['f', 'false', 'off', 'no', '0'].includes(v)) return false;
  }
  return undefined;
}

/** A constant true/false expression (`true`, `false`, `1 = 1` is not recognised, on purpose). */
export function constantBoolean(node: Node): boolean | undefined {
  if (node?.A_Const?.boolval !== undefined) return node.A_Const.boolval.boolval === true;
  if (node?.TypeCast) return boolConst(node);
  return undefined;
}

/** True when node yields the configured setting's value (casts, nullif and a scalar subquery allowed). */
function isSettingRead(node: Node, setting: string): boolean {
  if (!node) return false;
  if (node.TypeCast) return isSettingRead(node.TypeCast.arg, setting);
  if (node.A_Expr?.kind === 'AEXPR_NULLIF') return isSettingRead(node.A_Expr.lexpr, setting);
  if (node.SubLink) {
    const sel = node.SubLink.subselect?.SelectStmt;
    if (node.SubLink.subLinkType !== 'EXPR_SUBLINK' || !sel) return false;
    if (sel.fromClause?.length || sel.whereClause || sel.targetList?.length !== 1) return false;
    return isSettingRead(sel.targetList[0].ResTarget.val, setting);
  }
  if (funcName(node) === 'current_setting') {
    return stringConst(node.FuncCall.args?.[0]) === setting;
  }
  return false;
}

function isColumn(node: Node, column: string): boolean {
  return node?.ColumnRef !== undefined && lastName(node.ColumnRef.fields) === column;
}

/**
 * True when the expression can only be true for rows whose column equals the setting: the
 * comparison itself, an AND with it, an OR whose every branch has it, or a constant false.
 *
 * @example await impliesTenant(await parseExpression("(company_id = (SELECT current_setting('app.x', true)::int))"), { column: 'company_id', setting: 'app.x' }) // => true
 */
export function impliesTenant(node: Node, predicate: TenantPredicate): boolean {
  if (!node) return false;
  if (constantBoolean(node) === false) return true;
  if (node.BoolExpr) {
    const args: Node[] = node.BoolExpr.args ?? [];
    if (node.BoolExpr.boolop === 'AND_EXPR') return args.some((a) => impliesTenant(a, predicate));
    if (node.BoolExpr.boolop === 'OR_EXPR') return args.every((a) => impliesTenant(a, predicate));
    return false;
  }
  const e = node.A_Expr;
  if (e && e.kind === 'AEXPR_OP' && lastName(e.name) === '=') {
    return (
      (isColumn(e.lexpr, predicate.column) && isSettingRead(e.rexpr, predicate.setting)) ||
      (isColumn(e.rexpr, predicate.column) && isSettingRead(e.lexpr, predicate.setting))
    );
  }
  return false;
}

function walk(node: Node, visit: (node: Node, ancestors: Node[]) => void, ancestors: Node[] = []): void {
  if (node === null || typeof node !== 'object') return;
  if (Array.isArray(node)) {
    for (const item of node) walk(item, visit, ancestors);
    return;
  }
  visit(node, ancestors);
  const next = [...ancestors, node];
  for (const value of Object.values(node)) walk(value, visit, next);
}

/**
 * Problems with how an expression reads settings: no missing_ok (raises when unset), a cast
 * without nullif (raises on ''), another setting's name, a read outside a scalar subquery (info).
 */
export function settingReadProblems(node: Node, setting: string): SettingReadProblem[] {
  const problems: SettingReadProblem[] = [];
  walk(node, (n, ancestors) => {
    if (funcName(n) !== 'current_setting') return;
    const args: Node[] = n.FuncCall.args ?? [];
    const name = stringConst(args[0]);
    if (name !== setting) {
      problems.push({
        severity: 'warning',
        message: `reads ${name === undefined ? 'a computed setting name' : `setting ${name}`}, not the configured ${setting}: the application's tenant is never read`,
      });
    }
    if (args.length < 2 || boolConst(args[1]) !== true) {
      problems.push({ severity: 'warning', message: `current_setting(${name ?? '…'}) without missing_ok raises an error when no tenant is set` });
    }
    // The nearest enclosing node that is not a plain wrapper decides whether '' reaches a cast.
    const parents = [...ancestors].reverse().filter((a) => !Array.isArray(a) && !('FuncCall' in a && a === n));
    const direct = parents.find((a) => a.TypeCast || a.A_Expr || a.FuncCall || a.SubLink || a.BoolExpr || a.CoalesceExpr);
    if (direct?.TypeCast) {
      problems.push({
        severity: 'warning',
        message: `casts current_setting(${name ?? '…'}) without nullif(…, ''): after an earlier SET LOCAL on the connection it is '' and the cast raises`,
      });
    }
    if (!ancestors.some((a) => a.SubLink)) {
      problems.push({
        severity: 'info',
        message: `reads current_setting(${name ?? '…'}) outside a scalar subquery: it may be evaluated once per row; (SELECT …) makes it once per statement`,
      });
    }
  });
  return problems;
}

/** The policy commands that govern a statement command (ALL applies to every one). */
export type StatementCommand = 'SELECT' | 'INSERT' | 'UPDATE' | 'DELETE';
export const STATEMENT_COMMANDS: readonly StatementCommand[] = ['SELECT', 'INSERT', 'UPDATE', 'DELETE'];

const POLCMD: Record<string, string> = { '*': 'ALL', r: 'SELECT', a: 'INSERT', w: 'UPDATE', d: 'DELETE' };
/** pg_policy.polcmd → command name. */
export const policyCommandName = (polcmd: string): string => POLCMD[polcmd] ?? polcmd;

export interface PolicyRow {
  name: string;
  command: string;
  permissive?: boolean;
  using: string | null;
  check: string | null;
}

/** True when the policy governs statements of that command. */
export function appliesTo(policy: PolicyRow, command: StatementCommand): boolean {
  const c = policyCommandName(policy.command);
  return c === 'ALL' || c === command;
}

/**
 * The expressions a policy contributes for a command, per ANCHORS point 6: SELECT/DELETE read
 * USING; INSERT reads WITH CHECK (FOR INSERT without it denies: `false`; FOR ALL without it reuses
 * USING); UPDATE reads USING and WITH CHECK (WITH CHECK defaults to USING).
 */
export function expressionsFor(policy: PolicyRow, command: StatementCommand): (string | null)[] {
  const own = policyCommandName(policy.command);
  switch (command) {
    case 'SELECT':
    case 'DELETE':
      return [policy.using];
    case 'INSERT':
      if (policy.check !== null) return [policy.check];
      return own === 'INSERT' ? ['false'] : [policy.using];
    case 'UPDATE':
      return [policy.using, policy.check ?? policy.using];
  }
}

/** True when every expression the policy contributes for the command implies the tenant predicate. */
export async function policyScopesCommand(policy: PolicyRow, command: StatementCommand, predicate: TenantPredicate): Promise<boolean> {
  for (const expr of expressionsFor(policy, command)) {
    // A FOR SELECT/ALL policy with no USING is impossible in PostgreSQL; a null here means "no restriction".
    if (expr === null) return false;
    if (!impliesTenant(await parseExpression(expr), predicate)) return false;
  }
  return true;
}
