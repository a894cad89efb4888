// Checks a partial unique key's `where` (the DBA's SQL from the manifest) with the real PostgreSQL
// parser before generate prints it into a migration, and compares it with an index's predicate.
import { loadModule, parseSync } from 'libpg-query';
import { TenancyError } from '../errors.js';
import { qualified } from '../db/quote.js';
import { whereSql } from './predicate-match.js';

// The WebAssembly parser compiles once; only generate's renderer imports this module.
await loadModule();

const ALLOWED_SELECT_KEYS = new Set(['targetList', 'fromClause', 'whereClause', 'limitOption', 'op']);

/**
 * Why a `where` cannot be printed into `CREATE UNIQUE INDEX … WHERE (<where>)`, or undefined when it can.
 * It must parse, as `SELECT 1 FROM <table> WHERE (<where>)`, to exactly one plain SELECT whose only
 * addition is the WHERE clause; and followed by `;` and a second statement it must still give two
 * statements (so it cannot end inside a comment or a quote that would swallow what the file prints after it).
 */
export function whereProblem(schema: string, table: string, where: string): string | undefined {
  const text = whereSql(where);
  const select = `SELECT 1 FROM ${qualified(schema, table)} WHERE (${text})`;
  let tree: { stmts: { stmt: Record<string, Record<string, unknown>> }[] };
  try {
    tree = parseSync(select);
  } catch (error) {
    return `is not a boolean expression PostgreSQL can parse (${(error as Error).message})`;
  }
  if (tree.stmts.length !== 1) return `must be one expression, not ${tree.stmts.length} statements`;
  const stmt = tree.stmts[0].stmt.SelectStmt;
  if (!stmt) return 'must be one boolean expression';
  const extra = Object.keys(stmt).filter((k) => !ALLOWED_SELECT_KEYS.has(k));
  if (extra.length > 0 || stmt.op !== 'SETOP_NONE' || (stmt.fromClause as unknown[]).length !== 1 || !stmt.whereClause) {
    return 'must be one boolean expression (no set operations, clauses or other tables around it)';
  }
  try {
    const twice = parseSync(`${select};\nSELECT 2;`) as typeof tree;
    if (twice.stmts.length !== 2) return 'must not end inside a comment';
  } catch {
    return 'must not end inside a comment or a quote';
  }
  return undefined;
}

/** Throws a manifest error (exit 2) naming the table when a unique key's `where` is unusable. */
export function assertWhere(schema: string, table: string, where: string): string {
  const problem = whereProblem(schema, table, where);
  if (problem) {
    throw new TenancyError('manifest', `tables.${table}.unique: where ${problem}`, {
      hint: 'write the predicate of the partial unique index, e.g. deleted_at IS NULL',
    });
  }
  return whereSql(where);
}
