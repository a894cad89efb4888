// The parser's JSON tree (libpg-query output): node access, and a walk that passes each node's ancestors.

/* Nodes are `{ NodeType: { ...fields } }`. */
export type Node = Record<string, any>;

/**
 * Zero-argument SQL functions used by policies whose body is one `SELECT <expr>` (a wrapper such as
 * `current_org()` around the setting read), by the name pg_get_expr prints for them. One map per
 * audit run (two audits in one process never see each other's functions).
 */
export type WrapperFunctions = ReadonlyMap<string, Node>;

export function nodeType(node: Node | undefined): string | undefined {
  return node ? Object.keys(node)[0] : undefined;
}

export function lastName(list: Node[] | undefined): string | undefined {
  const last = list?.[list.length - 1];
  return last?.String?.sval;
}

/** Strips casts and scalar subqueries without FROM around a value (the setting's name argument). */
export function unwrapValue(node: Node | undefined): Node | undefined {
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

export function constantValue(node: Node): string | null | undefined {
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

export function callName(call: Node): string {
  return (call.funcname as Node[]).map((n) => n.String?.sval).join('.');
}

export function walk(node: unknown, visit: (node: Node, ancestors: Node[]) => void, ancestors: Node[] = []): void {
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
