// Reads policy expressions (pg_get_expr output) with the real PostgreSQL parser, never regexes.
// libpg-query costs ~50–90 ms to import (its WebAssembly parser compiles on the first parse): load
// it with the first policy expression, so commands that never read a policy start without it.
let parser: Promise<typeof import('libpg-query')> | undefined;
async function parse(sql: string): Promise<Node> {
  parser ??= import('libpg-query');
  return (await (await parser).parse(sql)) as Node;
}

/* The parser's JSON tree: nodes are `{ NodeType: { ...fields } }`. */
type Node = Record<string, any>;

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
}

const TEXT_TYPES = new Set(['text', 'varchar', 'bpchar', 'name', 'character varying']);

function nodeType(node: Node | undefined): string | undefined {
  return node ? Object.keys(node)[0] : undefined;
}

function lastName(list: Node[] | undefined): string | undefined {
  const last = list?.[list.length - 1];
  return last?.String?.sval;
}

/** Strips casts and scalar subqueries without FROM around a value (the setting's name argument). */
function unwrapValue(node: Node | undefined): Node | undefined {
  let current = node;
  for (let i = 0; i < 20 && current; i++) {
    const type = nodeType(current);
    const body = current[type!];
    if (type === 'TypeCast') current = body.arg;
    else if (type === 'SubLink' && body.subLinkType === 'EXPR_SUBLINK') {
      const select = body.subselect?.SelectStmt;
      if (!select || select.fromClause || select.targetList?.length !== 1) return current;
      current = select.targetList[0].ResTarget.val;
    } else return current;
  }
  return current;
}

/**
 * One value an expression can evaluate to: the configured setting, no tenant at all (NULL, or ''
 * which is what an unset setting reads as after an earlier SET LOCAL), a column, a constant, or
 * anything else (another setting, arithmetic, an unknown function).
 */
type Leaf =
  | { kind: 'setting' }
  | { kind: 'unset' }
  | { kind: 'column'; name: string }
  | { kind: 'constant'; value: string }
  | { kind: 'other'; what: string };

function constantValue(node: Node): string | null | undefined {
  const c = node.A_Const;
  if (!c) return undefined;
  if (c.isnull) return null;
  if (c.sval) return String(c.sval.sval ?? '');
  // The parser's JSON omits zero and false: `{ ival: {} }` is 0.
  if (c.ival) return String(c.ival.ival ?? 0);
  if (c.fval) return String(c.fval.fval ?? 0);
  if (c.boolval) return String(c.boolval.boolval ?? false);
  return undefined;
}

function callName(call: Node): string {
  return (call.funcname as Node[]).map((n) => n.String?.sval).join('.');
}

/**
 * Every value `node` can take. COALESCE, CASE and GREATEST/LEAST can return any of their arguments
 * (branches), NULLIF(a, c) any value of a but c, a cast or scalar subquery its inner value, a
 * registered wrapper function its body's values.
 */
function valueLeaves(node: Node | undefined, setting: string, wrappers: WrapperFunctions, depth = 0): Leaf[] {
  const type = nodeType(node);
  if (!type || depth > 20) return [{ kind: 'other', what: 'an expression' }];
  const body = node![type];
  const many = (nodes: (Node | undefined)[]) => nodes.flatMap((n) => valueLeaves(n, setting, wrappers, depth + 1));
  switch (type) {
    case 'TypeCast':
      return valueLeaves(body.arg, setting, wrappers, depth + 1);
    case 'SubLink': {
      const select = body.subselect?.SelectStmt;
      if (body.subLinkType !== 'EXPR_SUBLINK' || !select || select.fromClause || select.targetList?.length !== 1) break;
      return valueLeaves(select.targetList[0].ResTarget.val, setting, wrappers, depth + 1);
    }
    case 'CoalesceExpr':
    case 'MinMaxExpr':
      return many(body.args ?? []);
    case 'CaseExpr':
      // No ELSE: NULL.
      return [...many((body.args ?? []).map((w: Node) => w.CaseWhen?.result)), ...(body.defresult ? many([body.defresult]) : [{ kind: 'unset' } as Leaf])];
    case 'A_Const': {
      const value = constantValue(node!);
      return value === null || value === '' ? [{ kind: 'unset' }] : [{ kind: 'constant', value: value ?? '?' }];
    }
    case 'ColumnRef':
      return [{ kind: 'column', name: lastName(body.fields) ?? '?' }];
    case 'A_Expr': {
      if (body.kind !== 'AEXPR_NULLIF') break;
      const right = unwrapValue(body.rexpr);
      const removed = nodeType(right) === 'A_Const' ? constantValue(right!) : undefined;
      return valueLeaves(body.lexpr, setting, wrappers, depth + 1).filter((l) => !(l.kind === 'constant' && removed !== undefined && l.value === removed));
    }
    case 'FuncCall': {
      if (lastName(body.funcname)?.toLowerCase() === 'current_setting') {
        const name = unwrapValue(body.args?.[0])?.A_Const?.sval?.sval;
        return name === setting ? [{ kind: 'setting' }] : [{ kind: 'other', what: `current_setting('${name ?? '?'}')` }];
      }
      const wrapped = (body.args ?? []).length === 0 ? wrappers.get(callName(body)) : undefined;
      if (wrapped !== undefined && depth < 10) return valueLeaves(wrapped, setting, wrappers, depth + 1);
      return [{ kind: 'other', what: `${callName(body)}()` }];
    }
  }
  return [{ kind: 'other', what: 'an expression' }];
}

function describeLeaf(leaf: Leaf, column: string, short = false): string {
  if (short) return leaf.kind === 'column' ? leaf.name : leaf.kind === 'constant' ? leaf.value : leaf.kind === 'other' ? leaf.what : 'NULL';
  if (leaf.kind === 'column') return leaf.name === column ? `${column} itself (every row matches)` : `column ${leaf.name}`;
  if (leaf.kind === 'constant') return `the constant ${leaf.value} (that tenant's rows match)`;
  if (leaf.kind === 'other') return leaf.what;
  return leaf.kind;
}

/** The values of the tenant side of an equality: a tenant comparison when the setting is one of them. */
function equalityValues(value: Node | undefined, setting: string, wrappers: WrapperFunctions): { compares: boolean; fallbacks: Leaf[] } {
  const leaves = valueLeaves(value, setting, wrappers);
  return { compares: leaves.some((l) => l.kind === 'setting'), fallbacks: leaves.filter((l) => l.kind !== 'setting' && l.kind !== 'unset') };
}

/** The elements of `x IN (…)` (parsed text) or `x = ANY (ARRAY[…])` (pg_get_expr's form of it). */
function listItems(node: Node | undefined): Node[] | undefined {
  let current = node;
  while (nodeType(current) === 'TypeCast') current = current!.TypeCast.arg;
  if (nodeType(current) === 'List') return current!.List.items ?? [];
  if (nodeType(current) === 'A_ArrayExpr') return current!.A_ArrayExpr.elements ?? [];
  return undefined;
}

interface Comparison {
  /** The tenant side: a value (=) or the list of values (IN / = ANY). */
  values: Node[];
  /** Confines the column to the setting: `=` or `= ANY` / `IN` whose every element reads the setting. */
  equality: boolean;
  /** How it reads, for messages: `>=`, `IN (…)`, `IS NOT DISTINCT FROM`. */
  operator: string;
}

const KIND_NAMES: Record<string, string> = {
  AEXPR_DISTINCT: 'IS DISTINCT FROM',
  AEXPR_NOT_DISTINCT: 'IS NOT DISTINCT FROM',
  AEXPR_LIKE: 'LIKE',
  AEXPR_ILIKE: 'ILIKE',
  AEXPR_SIMILAR: 'SIMILAR TO',
  AEXPR_BETWEEN: 'BETWEEN',
  AEXPR_NOT_BETWEEN: 'NOT BETWEEN',
  AEXPR_BETWEEN_SYM: 'BETWEEN SYMMETRIC',
  AEXPR_NOT_BETWEEN_SYM: 'NOT BETWEEN SYMMETRIC',
  AEXPR_OP_ALL: 'ALL',
};

/** `column <op> value` (either side), or undefined when the node does not compare the column. */
function comparison(node: Node, column: string): Comparison | undefined {
  if (nodeType(node) === 'SubLink') {
    // `column IN (SELECT <value>)` / `column = ANY (SELECT <value>)` without FROM: one value, as `=`.
    const body = node.SubLink;
    const select = body.subselect?.SelectStmt;
    const op = lastName(body.operName) ?? '=';
    if (body.subLinkType !== 'ANY_SUBLINK' || !isColumn(body.testexpr, column)) return undefined;
    if (!select || select.fromClause || select.whereClause || select.targetList?.length !== 1) return undefined;
    return { values: [select.targetList[0].ResTarget.val], equality: op === '=', operator: `${op} ANY (SELECT …)` };
  }
  if (nodeType(node) !== 'A_Expr') return undefined;
  const body = node.A_Expr;
  if (body.kind === 'AEXPR_NULLIF') return undefined;
  const op = lastName(body.name) ?? '';
  const other = isColumn(body.lexpr, column) ? body.rexpr : isColumn(body.rexpr, column) && body.kind === 'AEXPR_OP' ? body.lexpr : undefined;
  if (other === undefined) return undefined;
  if (body.kind === 'AEXPR_OP') return { values: [other], equality: op === '=', operator: op };
  if ((body.kind === 'AEXPR_IN' || body.kind === 'AEXPR_OP_ANY') && op === '=') {
    const items = listItems(other);
    return items ? { values: items, equality: true, operator: 'IN (…)' } : { values: [other], equality: false, operator: '= ANY (…)' };
  }
  const items = listItems(other);
  return { values: items ?? [other], equality: false, operator: body.kind === 'AEXPR_IN' ? (op === '=' ? 'IN' : 'NOT IN') : (KIND_NAMES[body.kind] ?? op) };
}

/**
 * Zero-argument SQL functions used by policies whose body is one `SELECT <expr>` (a wrapper such as
 * `current_org()` around the setting read), by the name pg_get_expr prints for them. One map per
 * audit run (two audits in one process never see each other's functions).
 */
export type WrapperFunctions = ReadonlyMap<string, Node>;
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

/** Reads the setting anywhere inside (through registered wrapper functions too). */
function readsSetting(node: Node | undefined, setting: string, wrappers: WrapperFunctions, depth = 0): boolean {
  let found = false;
  walk(node, (n) => {
    if (found || nodeType(n) !== 'FuncCall') return;
    const call = n.FuncCall;
    if (lastName(call.funcname)?.toLowerCase() === 'current_setting') found = unwrapValue(call.args?.[0])?.A_Const?.sval?.sval === setting;
    else {
      const body = (call.args ?? []).length === 0 ? wrappers.get(callName(call)) : undefined;
      found = body !== undefined && depth < 10 && readsSetting(body, setting, wrappers, depth + 1);
    }
  });
  return found;
}

function isColumn(node: Node | undefined, column: string): boolean {
  let current = node;
  while (nodeType(current) === 'TypeCast') current = current!.TypeCast.arg;
  if (nodeType(current) !== 'ColumnRef') return false;
  return lastName(current!.ColumnRef.fields) === column;
}

/** A tenant equality: `column = <value that can be the setting>`, or `column IN (…)` whose every element can be. */
function isTenantEquality(node: Node, column: string, setting: string, wrappers: WrapperFunctions): boolean {
  const c = comparison(node, column);
  return c !== undefined && c.equality && c.values.length > 0 && c.values.every((v) => equalityValues(v, setting, wrappers).compares);
}

function isScoped(node: Node | undefined, column: string, setting: string, wrappers: WrapperFunctions): boolean {
  const type = nodeType(node);
  if (!type) return false;
  const body = node![type];
  if (type === 'BoolExpr') {
    const args: Node[] = body.args ?? [];
    if (body.boolop === 'AND_EXPR') return args.some((a) => isScoped(a, column, setting, wrappers));
    if (body.boolop === 'OR_EXPR') return args.length > 0 && args.every((a) => isScoped(a, column, setting, wrappers));
    return false;
  }
  return isTenantEquality(node!, column, setting, wrappers);
}

const negated = (ancestors: Node[]) => ancestors.some((a) => nodeType(a) === 'BoolExpr' && a.BoolExpr.boolop === 'NOT_EXPR');

function comparesTenant(root: Node, column: string, setting: string, wrappers: WrapperFunctions): boolean {
  let found = false;
  walk(root, (node, ancestors) => {
    if (!found && !negated(ancestors)) found = isTenantEquality(node, column, setting, wrappers);
  });
  return found;
}

/**
 * Comparisons of the column with the setting that admit other tenants' rows: another operator than
 * `=` (`>=` reaches every higher tenant id), a list with other values (`IN (<setting>, 2)`), or a
 * tenant equality under NOT.
 */
function wideComparisons(root: Node, column: string, setting: string, wrappers: WrapperFunctions): string[] {
  const found = new Set<string>();
  walk(root, (node, ancestors) => {
    const c = comparison(node, column);
    if (!c || !c.values.some((v) => readsSetting(v, setting, wrappers))) return;
    if (c.equality) {
      const others = c.values.filter((v) => !equalityValues(v, setting, wrappers).compares);
      if (others.length > 0 && others.length < c.values.length) {
        const what = others.flatMap((v) => valueLeaves(v, setting, wrappers)).map((l) => describeLeaf(l, column, true));
        found.add(`${column} IN (${setting}, ${[...new Set(what)].join(', ')})`);
      } else if (others.length === 0 && negated(ancestors)) found.add(`NOT (${column} = ${setting})`);
      return;
    }
    found.add(`${column} ${c.operator} ${setting}`);
  });
  return [...found];
}

/** What the tenant equalities compare the column with besides the setting. */
function fallbacks(root: Node, column: string, setting: string, wrappers: WrapperFunctions): string[] {
  const found = new Set<string>();
  walk(root, (node, ancestors) => {
    const c = comparison(node, column);
    if (!c || !c.equality || negated(ancestors)) return;
    for (const v of c.values) {
      const { compares, fallbacks: others } = equalityValues(v, setting, wrappers);
      if (compares) for (const leaf of others) found.add(describeLeaf(leaf, column));
    }
  });
  return [...found];
}

function walk(node: unknown, visit: (node: Node, ancestors: Node[]) => void, ancestors: Node[] = []): void {
  if (Array.isArray(node)) {
    for (const child of node) walk(child, visit, ancestors);
    return;
  }
  if (!node || typeof node !== 'object') return;
  const obj = node as Node;
  const type = nodeType(obj);
  const isNode = type !== undefined && /^[A-Z]/.test(type) && Object.keys(obj).length === 1;
  if (isNode) visit(obj, ancestors);
  const next = isNode ? [...ancestors, obj] : ancestors;
  for (const value of Object.values(isNode ? obj[type!] : obj)) walk(value, visit, next);
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
    comparesTenant: comparesTenant(root, column, setting, wrappers),
    wideComparisons: wideComparisons(root, column, setting, wrappers),
    fallbacks: fallbacks(root, column, setting, wrappers),
    alwaysTrue: !hasColumnRef(root),
    settingReads: settingReads(root, wrappers),
    functions: functionNames(root),
  };
}
