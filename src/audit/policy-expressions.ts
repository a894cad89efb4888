// Reads policy expressions (pg_get_expr output) with the real PostgreSQL parser, never regexes.
import { lastName, nodeType, unwrapValue, walk, type Node, type WrapperFunctions } from './parse-tree.js';
import { comparesTenant, fallbacks, isScoped, wideComparisons } from './tenant-comparison.js';

export type { WrapperFunctions } from './parse-tree.js';

// libpg-query costs ~50–90 ms to import (its WebAssembly parser compiles on the first parse): load
// it with the first policy expression, so commands that never read a policy start without it.
let parser: Promise<typeof import('libpg-query')> | undefined;
async function parse(sql: string): Promise<Node> {
  parser ??= import('libpg-query');
  return (await (await parser).parse(sql)) as Node;
}

export interface SettingRead {
  /** The setting's name, when it is a constant. */
  name: string | null;
  /** current_setting(name, true): NULL instead of an error when unset. */
  missingOk: boolean;
  /** Cast to a non-text type without nullif(…, '') first: '' raises. */
  castWithoutNullif: boolean;
  /** Inside a scalar subquery: evaluated once per statement. */
  inSubselect: boolean;
}

export interface ExpressionAnalysis {
  /**
   * Confines rows to the tenant: `column = <setting read>` (or `column IN (<setting reads>)`), AND-ed
   * (every OR branch must be scoped). A fallback in the value (COALESCE(<setting>, 2)) still counts
   * here: it is reported as `fallbacks` (unsafe-setting-read), not as a widened predicate.
   */
  scoped: boolean;
  /** As `scoped`, with `column IS NULL` counted as confined (the shared rows of a shared_rows table). */
  scopedOrShared: boolean;
  /** Compares the column with the setting by equality somewhere (even inside an OR that widens it). */
  comparesTenant: boolean;
  /**
   * Comparisons of the column with the setting that other tenants' rows satisfy: `>=`, `<>`,
   * `IS NOT DISTINCT FROM`, `IN (<setting>, 2)`, a negated equality, … (policy-not-tenant-scoped).
   */
  wideComparisons: string[];
  /**
   * What a tenant equality compares the column with besides the setting: every argument of
   * COALESCE, every branch of CASE, GREATEST/LEAST and registered wrapper functions is a value it
   * can take (`company_id` itself: every row matches; `2`: tenant 2's rows match with no tenant set).
   */
  fallbacks: string[];
  /** The constant `true` (or an expression with no column reference at all). */
  alwaysTrue: boolean;
  settingReads: SettingRead[];
  /** Names of the functions it calls (lower case, unqualified). */
  functions: string[];
  /** Subqueries in it (scalar, EXISTS, IN (SELECT …)): Citus refuses them in a policy on a distributed table. */
  subqueries: number;
}

const TEXT_TYPES = new Set(['text', 'varchar', 'bpchar', 'name', 'character varying']);

const NO_WRAPPERS: WrapperFunctions = new Map();

/**
 * Registers the SQL wrapper functions policies call, so `org_id = current_org()` counts as the
 * tenant comparison when current_org() is `SELECT nullif(current_setting('app.org', true), '')::uuid`.
 * `visible`: the function is on the search_path (pg_get_expr prints it unqualified).
 */
export async function readWrapperFunctions(functions: { schema: string; name: string; body: string; visible: boolean }[]): Promise<WrapperFunctions> {
  const wrapperFunctions = new Map<string, Node>();
  for (const f of functions) {
    let tree: Node;
    try {
      tree = (await parse(wrapperBodySql(f.body))) as Node;
    } catch {
      continue;
    }
    const select = tree.stmts?.length === 1 ? tree.stmts[0].stmt?.SelectStmt : undefined;
    if (!select || select.fromClause || select.whereClause || select.targetList?.length !== 1) continue;
    const expression = select.targetList[0].ResTarget.val;
    wrapperFunctions.set(`${f.schema}.${f.name}`, expression);
    if (f.visible) wrapperFunctions.set(f.name, expression);
  }
  return wrapperFunctions;
}

/**
 * The body as one statement: `AS $$ SELECT … $$` as is; a SQL-standard body, as
 * pg_get_function_sqlbody prints it, unwrapped (`RETURN x` → `SELECT x`, `BEGIN ATOMIC SELECT x; END` → `SELECT x`).
 */
function wrapperBodySql(body: string): string {
  const text = body.trim();
  const returned = /^RETURN\s+([\s\S]*)$/i.exec(text);
  if (returned) return `SELECT ${returned[1]}`;
  const atomic = /^BEGIN\s+ATOMIC\s+([\s\S]*?);?\s*END$/i.exec(text);
  return atomic ? atomic[1] : text;
}

function settingReads(root: Node, wrapperFunctions: WrapperFunctions, depth = 0): SettingRead[] {
  const reads: SettingRead[] = [];
  walk(root, (node, ancestors) => {
    if (nodeType(node) !== 'FuncCall') return;
    const call = node.FuncCall;
    if (lastName(call.funcname)?.toLowerCase() !== 'current_setting') {
      // A registered wrapper function: its body's reads count, evaluated where the call stands.
      const name = (call.funcname as Node[]).map((n) => n.String?.sval).join('.');
      const body = (call.args ?? []).length === 0 ? wrapperFunctions.get(name) : undefined;
      if (body !== undefined && depth < 5) {
        const inSubselect = ancestors.some((a) => nodeType(a) === 'SubLink');
        for (const read of settingReads(body, wrapperFunctions, depth + 1)) reads.push({ ...read, inSubselect: read.inSubselect || inSubselect });
      }
      return;
    }
    const nameArg = unwrapValue(call.args?.[0]);
    const flag = unwrapValue(call.args?.[1]);
    const missingOk =
      flag?.A_Const?.boolval?.boolval === true ||
      ['true', 't', 'on', 'yes', '1'].includes(String(flag?.A_Const?.sval?.sval ?? '').toLowerCase());
    // Walk outwards from the call: a nullif before any cast makes the cast safe.
    let castWithoutNullif = false;
    for (let i = ancestors.length - 1; i >= 0; i--) {
      const a = ancestors[i];
      const t = nodeType(a);
      if (t === 'A_Expr' && a.A_Expr.kind === 'AEXPR_NULLIF') break;
      if (t === 'TypeCast') {
        const names: Node[] = a.TypeCast.typeName?.names ?? [];
        const typeName = lastName(names)?.toLowerCase() ?? '';
        if (!TEXT_TYPES.has(typeName)) castWithoutNullif = true;
        continue;
      }
      if (t === 'SubLink' || t === 'BoolExpr' || (t === 'A_Expr' && a.A_Expr.kind === 'AEXPR_OP')) break;
    }
    reads.push({
      name: nameArg?.A_Const?.sval?.sval ?? null,
      missingOk,
      castWithoutNullif,
      inSubselect: ancestors.some((a) => nodeType(a) === 'SubLink'),
    });
  });
  return reads;
}

function functionNames(root: Node): string[] {
  const names = new Set<string>();
  walk(root, (node) => {
    if (nodeType(node) === 'FuncCall') {
      const name = lastName(node.FuncCall.funcname);
      if (name) names.add(name.toLowerCase());
    }
  });
  return [...names].sort();
}

function hasColumnRef(root: Node): boolean {
  let found = false;
  walk(root, (node) => {
    if (nodeType(node) === 'ColumnRef') found = true;
  });
  return found;
}

const cache = new Map<string, Promise<Node>>();

async function parseExpression(expression: string): Promise<Node> {
  let tree = cache.get(expression);
  if (!tree) {
    tree = parse(`SELECT ${expression}`).then((r: Node) => r.stmts[0].stmt.SelectStmt.targetList[0].ResTarget.val);
    cache.set(expression, tree);
  }
  return tree;
}

/**
 * Analyses one policy expression as pg_get_expr prints it.
 *
 * @example await analyzeExpression("(company_id = ( SELECT (NULLIF(current_setting('app.t'::text, true), ''::text))::integer AS \"nullif\"))", 'company_id', 'app.t')
 * // => { scoped: true, comparesTenant: true, alwaysTrue: false, settingReads: [{ name: 'app.t', missingOk: true, castWithoutNullif: false, inSubselect: true }], … }
 */
export async function analyzeExpression(
  expression: string,
  column: string,
  setting: string,
  wrappers: WrapperFunctions = NO_WRAPPERS,
): Promise<ExpressionAnalysis> {
  const root = await parseExpression(expression);
  return {
    scoped: isScoped(root, column, setting, wrappers),
    scopedOrShared: isScoped(root, column, setting, wrappers, true),
    comparesTenant: comparesTenant(root, column, setting, wrappers),
    wideComparisons: wideComparisons(root, column, setting, wrappers),
    fallbacks: fallbacks(root, column, setting, wrappers),
    alwaysTrue: !hasColumnRef(root),
    settingReads: settingReads(root, wrappers),
    functions: functionNames(root),
    subqueries: countSubLinks(root),
  };
}

function countSubLinks(root: Node): number {
  let n = 0;
  walk(root, (node) => {
    if (nodeType(node) === 'SubLink') n++;
  });
  return n;
}
