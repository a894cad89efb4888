// Where a finding's subject is declared in tenancy.yaml: line and column from the yaml library's CST ranges.
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node } from 'yaml';
import type { Finding } from '../audit/types.js';

export interface ManifestPosition {
  /** 1-based, as SARIF regions count. */
  line: number;
  column: number;
}

/** A check whose finding has no table of its own is about this manifest entry (when present). */
const CHECK_KEYS: Record<string, string[]> = {
  'tenant-setting-default': ['tenant', 'setting'],
  'state-schema-exposed': ['state_schema'],
  'untracked-table': ['tables'],
  'security-definer-function': ['definer_functions'],
};

export interface ManifestLocator {
  /** The position of the key at `path` (map keys; a sequence item by its value), if the manifest has it. */
  key(path: string[]): ManifestPosition | undefined;
  /** Where the finding's table is declared (under tables, exempt, or as the tenant table). */
  table(f: Finding, schema: string): ManifestPosition | undefined;
  /** Where the role, function or setting the finding is about is declared (or the section its fix goes in). */
  declaration(f: Finding, schema: string): ManifestPosition | undefined;
}

/**
 * Reads manifest text once and answers positions from it. A text that does not parse answers
 * nothing (the manifest was already validated when the audit loaded it).
 *
 * @example manifestLocator('tables:\n  deals: {}\n').key(['tables', 'deals']) // => { line: 2, column: 3 }
 */
export function manifestLocator(text: string): ManifestLocator {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: false, prettyErrors: false });
  const root = doc.errors.length === 0 ? (doc.contents as Node | null) : null;
  const at = (offset: number | undefined): ManifestPosition | undefined => {
    if (offset === undefined) return undefined;
    const { line, col } = lineCounter.linePos(offset);
    return { line, column: col };
  };

  function key(path: string[]): ManifestPosition | undefined {
    let node: Node | null | undefined = root;
    let position: ManifestPosition | undefined;
    for (const part of path) {
      if (isMap(node)) {
        const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === part);
        if (!pair || !isScalar(pair.key)) return undefined;
        position = at(pair.key.range?.[0]);
        node = pair.value as Node | null;
      } else if (isSeq(node)) {
        const item = node.items.find((i) => isScalar(i) && String(i.value) === part);
        if (!item || !isScalar(item)) return undefined;
        position = at(item.range?.[0]);
        node = null;
      } else {
        return undefined;
      }
    }
    return position;
  }

  const unqualified = (name: string, schema: string): string => (name.startsWith(`${schema}.`) ? name.slice(schema.length + 1) : name);

  function table(name: string, schema: string): ManifestPosition | undefined {
    const bare = unqualified(name, schema);
    const tenant = root && isMap(root) ? (root.getIn(['tenant', 'table']) as unknown) : undefined;
    return key(['tables', bare]) ?? key(['exempt', bare]) ?? (tenant === bare ? key(['tenant', 'table']) : undefined);
  }

  function object(name: string, schema: string): ManifestPosition | undefined {
    // `find_user_for_login(text)`, `public.find_user_for_login(text) on public.users`: the function's name.
    const fn = unqualified(name.replace(/\(.*$/s, ''), schema);
    return key(['roles', 'app', name]) ?? key(['roles', 'bypass', name]) ?? key(['definer_functions', fn]) ?? table(name, schema);
  }

  return {
    key,
    table: (f, schema) => (f.table ? table(f.table, schema) : undefined),
    declaration: (f, schema) => (f.object ? object(f.object, schema) : undefined) ?? (CHECK_KEYS[f.check] ? key(CHECK_KEYS[f.check]) : undefined),
  };
}
