// The tenant comparison inside a policy expression: which values it compares the column with, and by which operator.
import { callName, constantValue, lastName, nodeType, unwrapValue, walk, type Node, type WrapperFunctions } from './parse-tree.js';

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

/**
 * Confines rows to the tenant. `sharedNull`: `column IS NULL` counts as confined too (a shared_rows
 * table's reads: the NULL-tenant rows are the ones every tenant shares).
 */
export function isScoped(node: Node | undefined, column: string, setting: string, wrappers: WrapperFunctions, sharedNull = false): boolean {
  const type = nodeType(node);
  if (!type) return false;
  const body = node![type];
  if (type === 'BoolExpr') {
    const args: Node[] = body.args ?? [];
    if (body.boolop === 'AND_EXPR') return args.some((a) => isScoped(a, column, setting, wrappers, sharedNull));
    if (body.boolop === 'OR_EXPR') return args.length > 0 && args.every((a) => isScoped(a, column, setting, wrappers, sharedNull));
    return false;
  }
  if (type === 'NullTest') return sharedNull && body.nulltesttype === 'IS_NULL' && isColumn(body.arg, column);
  return isTenantEquality(node!, column, setting, wrappers);
}

const negated = (ancestors: Node[]) => ancestors.some((a) => nodeType(a) === 'BoolExpr' && a.BoolExpr.boolop === 'NOT_EXPR');

export function comparesTenant(root: Node, column: string, setting: string, wrappers: WrapperFunctions): boolean {
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
export function wideComparisons(root: Node, column: string, setting: string, wrappers: WrapperFunctions): string[] {
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
export function fallbacks(root: Node, column: string, setting: string, wrappers: WrapperFunctions): string[] {
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
