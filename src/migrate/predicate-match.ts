// Whether an existing index's predicate is a manifest key's `where` (the same partial key, spelled differently).
import { samePredicate } from '../audit/data-checks.js';

/** One line, as generate prints a `where` (line breaks and tabs become spaces). */
export function whereSql(where: string): string {
  return where.replace(/\r\n|[\r\n\t]/g, ' ').trim();
}

/** `x::text` casts and parentheses set aside: pg_get_expr adds both to what the DBA wrote. */
function loose(expr: string): string {
  return expr.replace(/::\s*(?:"[^"]+"|[a-z_][a-z0-9_ ]*?)(?=[\s)=<>,]|$)/gi, '').replace(/[()]/g, '');
}

/**
 * Whether an index predicate (pg_get_expr output; null for a full index) enforces the manifest key's
 * `where` (undefined for a full key). A full index also covers a partial key (it is stricter), as the
 * audit's duplicate check counts it.
 */
export function predicateMatches(indexPredicate: string | null, where: string | undefined): boolean {
  if (indexPredicate === null) return true;
  if (where === undefined) return false;
  return samePredicate(indexPredicate, where) || samePredicate(loose(indexPredicate), loose(whereSql(where)));
}
