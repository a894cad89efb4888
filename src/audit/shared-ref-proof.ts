// The run-time proof of a foreign key into a shared_rows table: the guard trigger migrate installs
// (src/migrate/render-shared-refs.ts), asked in the audit's snapshot before the FK's scan.
import type { CatalogConstraint } from '../db/catalog.js';
import { regclassText } from '../db/quote.js';
import type { Manifest } from '../config/manifest.js';
import { sharedRefNames } from '../migrate/plan-shared-refs.js';
import { SHARED_REF_MARK, sharedRefFunctionBody } from '../migrate/render-shared-refs.js';
import type { TableScan } from './data-checks.js';
import type { DataProof } from './types.js';

/**
 * One row when the guard of a key is there as migrate made it: the trigger ($2) on the child ($1),
 * enabled for ordinary sessions ('O' or 'A', as for a polymorphic pair's trigger), a row trigger on
 * INSERT and UPDATE (of every column, or at least of the key's column and the tenant column, $4 and
 * $5), with migrate's arguments (the mark $3, the column), calling the function migrate named ($6.$7)
 * in PL/pgSQL with migrate's body ($8): a function replaced by another body proves nothing.
 */
export const SHARED_REF_TRIGGER_SQL = `SELECT 1 FROM pg_catalog.pg_trigger g
  JOIN pg_catalog.pg_proc f ON f.oid = g.tgfoid
  JOIN pg_catalog.pg_namespace fn ON fn.oid = f.pronamespace
  JOIN pg_catalog.pg_language l ON l.oid = f.prolang
 WHERE g.tgrelid = to_regclass($1) AND g.tgname = $2 AND NOT g.tgisinternal AND g.tgenabled IN ('O', 'A')
   AND (g.tgtype & 1) <> 0 AND (g.tgtype & 4) <> 0 AND (g.tgtype & 16) <> 0
   AND g.tgargs = convert_to($3, 'UTF8') || '\\x00'::bytea || convert_to($4, 'UTF8') || '\\x00'::bytea
   AND (cardinality(g.tgattr::int2[]) = 0
        OR (SELECT count(*) FROM pg_catalog.pg_attribute a
             WHERE a.attrelid = g.tgrelid AND a.attname IN ($4, $5) AND a.attnum = ANY (g.tgattr::int2[])) = 2)
   AND fn.nspname = $6 AND f.proname = $7 AND l.lanname = 'plpgsql' AND f.prosrc = $8`;

/**
 * The `provenBy` of the scan of a single-column FK from `table` into a shared_rows table (no
 * composite key fits there; migrate guards it with a trigger instead), or undefined for any other FK
 * and with deep. Like a polymorphic pair's trigger: it checks every write from its creation on
 * (migrate scanned the rows already there before installing it), not rows written while it was
 * disabled or with session_replication_role = replica, which --deep scans.
 *
 * @example sharedRefProvenBy(manifest, 'memberships', fk, proof, false)?.proof // => 'enforced by trigger memberships_role_id_shared_ref_trigger'
 */
export function sharedRefProvenBy(manifest: Manifest, table: string, fk: CatalogConstraint, proof: DataProof, deep: boolean): TableScan['provenBy'] {
  const ref = fk.references!;
  const { schema, tenant } = manifest;
  if (deep || fk.columns.length !== 1 || ref.columns.length !== 1 || fk.columns[0] === tenant.column || ref.schema !== schema) return undefined;
  if (!manifest.tables.some((t) => t.name === ref.table && t.sharedRows)) return undefined;
  const column = fk.columns[0];
  const { functionName, triggerName } = sharedRefNames(table, column);
  const body = sharedRefFunctionBody(manifest, { table, column, parent: ref.table, parentKey: ref.columns[0] });
  return {
    sql: SHARED_REF_TRIGGER_SQL,
    values: [regclassText(schema, table), triggerName, SHARED_REF_MARK, column, tenant.column, schema, functionName, `\n${body}\n`],
    proof: `enforced by trigger ${triggerName}`,
    proofs: [proof],
  };
}
