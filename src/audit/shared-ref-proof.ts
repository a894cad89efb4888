// The run-time proof of a foreign key into a shared_rows table: the guard triggers migrate installs on
// the child and the parent (src/migrate/render-shared-refs.ts), asked in the audit's snapshot before the FK's scan.
import type { Catalog, CatalogConstraint } from '../db/catalog.js';
import { findRelation, foreignKeys } from '../db/catalog.js';
import { regclassText } from '../db/quote.js';
import type { Manifest } from '../config/manifest.js';
import { sharedRefNames } from '../migrate/plan-shared-refs.js';
import { SHARED_REF_MARK, SHARED_REF_PARENT_MARK, sharedRefFunctionBody, sharedRefParentFunctionBody } from '../migrate/render-shared-refs.js';
import type { TableScan } from './data-checks.js';
import type { DataProof } from './types.js';

/**
 * One row when the guard of a key is there as migrate made it, on both sides. The child's trigger ($2)
 * on the child ($1): enabled for ordinary sessions ('O' or 'A', as for a polymorphic pair's trigger), a
 * row trigger on INSERT and UPDATE (of every column, or at least of the key's column and the tenant
 * column, $4 and $5), with migrate's arguments (the mark $3, the column), calling the function migrate
 * named ($6.$7) in PL/pgSQL with migrate's body ($8): a function replaced by another body proves
 * nothing. And the parent's ($9) trigger ($10), without which an UPDATE of a referenced row's tenant
 * makes cross-tenant references the child's never sees: enabled the same way, an AFTER row trigger on
 * UPDATE (of every column, or at least of the tenant column and the referenced key, $5 and $13), with
 * migrate's arguments (the mark $11, the child table $12, the column $4), calling $6.$14 with
 * migrate's body ($15). A database migrated before the parent's trigger existed has the child's only:
 * not proven.
 */
export const SHARED_REF_TRIGGER_SQL = `SELECT 1 WHERE EXISTS (SELECT FROM pg_catalog.pg_trigger g
  JOIN pg_catalog.pg_proc f ON f.oid = g.tgfoid
  JOIN pg_catalog.pg_namespace fn ON fn.oid = f.pronamespace
  JOIN pg_catalog.pg_language l ON l.oid = f.prolang
 WHERE g.tgrelid = to_regclass($1) AND g.tgname = $2 AND NOT g.tgisinternal AND g.tgenabled IN ('O', 'A')
   AND (g.tgtype & 1) <> 0 AND (g.tgtype & 4) <> 0 AND (g.tgtype & 16) <> 0
   AND g.tgargs = convert_to($3, 'UTF8') || '\\x00'::bytea || convert_to($4, 'UTF8') || '\\x00'::bytea
   AND (cardinality(g.tgattr::int2[]) = 0
        OR (SELECT count(*) FROM pg_catalog.pg_attribute a
             WHERE a.attrelid = g.tgrelid AND a.attname IN ($4, $5) AND a.attnum = ANY (g.tgattr::int2[])) = 2)
   AND fn.nspname = $6 AND f.proname = $7 AND l.lanname = 'plpgsql' AND f.prosrc = $8)
 AND EXISTS (SELECT FROM pg_catalog.pg_trigger g
  JOIN pg_catalog.pg_proc f ON f.oid = g.tgfoid
  JOIN pg_catalog.pg_namespace fn ON fn.oid = f.pronamespace
  JOIN pg_catalog.pg_language l ON l.oid = f.prolang
 WHERE g.tgrelid = to_regclass($9) AND g.tgname = $10 AND NOT g.tgisinternal AND g.tgenabled IN ('O', 'A')
   AND (g.tgtype & 1) <> 0 AND (g.tgtype & 2) = 0 AND (g.tgtype & 16) <> 0
   AND g.tgargs = convert_to($11, 'UTF8') || '\\x00'::bytea || convert_to($12, 'UTF8') || '\\x00'::bytea
                  || convert_to($4, 'UTF8') || '\\x00'::bytea
   AND (cardinality(g.tgattr::int2[]) = 0
        OR (SELECT count(DISTINCT a.attname) FROM pg_catalog.pg_attribute a
             WHERE a.attrelid = g.tgrelid AND a.attname IN ($5, $13) AND a.attnum = ANY (g.tgattr::int2[]))
           = (SELECT count(DISTINCT x) FROM unnest(ARRAY[$5, $13]::text[]) x))
   AND fn.nspname = $6 AND f.proname = $14 AND l.lanname = 'plpgsql' AND f.prosrc = $15)`;

/**
 * The `provenBy` of the scan of a single-column FK from `table` into a shared_rows table (no
 * composite key fits there; migrate guards it with two triggers instead, the child's and the
 * parent's), or undefined for any other FK and with deep. Like a polymorphic pair's trigger: they
 * check every write from their creation on (migrate scanned the rows already there), not rows written
 * while one was disabled or with session_replication_role = replica, which --deep scans.
 *
 * @example sharedRefProvenBy(manifest, 'memberships', fk, proof, false)?.proof // => 'enforced by triggers memberships_role_id_shared_ref_trigger and memberships_role_id_shared_ref_parent_trigger'
 */
export function sharedRefProvenBy(manifest: Manifest, table: string, fk: CatalogConstraint, proof: DataProof, deep: boolean): TableScan['provenBy'] {
  const ref = fk.references!;
  const { schema, tenant } = manifest;
  if (deep || !isSharedRef(manifest, fk)) return undefined;
  const column = fk.columns[0];
  const { functionName, triggerName, parentFunctionName, parentTriggerName } = sharedRefNames(table, column);
  const step = { table, column, parent: ref.table, parentKey: ref.columns[0], constraint: fk.name };
  const body = sharedRefFunctionBody(manifest, step);
  const parentBody = sharedRefParentFunctionBody(manifest, step);
  return {
    sql: SHARED_REF_TRIGGER_SQL,
    values: [
      regclassText(schema, table), triggerName, SHARED_REF_MARK, column, tenant.column, schema, functionName, `\n${body}\n`,
      regclassText(schema, ref.table), parentTriggerName, SHARED_REF_PARENT_MARK, table, ref.columns[0], parentFunctionName, `\n${parentBody}\n`,
    ],
    proof: `enforced by triggers ${triggerName} and ${parentTriggerName}`,
    proofs: [proof],
  };
}

/** Whether `fk` is a key migrate guards with shared-ref triggers (single-column, not the tenant column, into a shared_rows table of the schema). */
function isSharedRef(manifest: Manifest, fk: CatalogConstraint): boolean {
  const ref = fk.references!;
  if (fk.columns.length !== 1 || ref.columns.length !== 1 || fk.columns[0] === manifest.tenant.column || ref.schema !== manifest.schema) return false;
  return manifest.tables.some((t) => t.name === ref.table && t.sharedRows);
}

/**
 * The functions migrate writes for the keys into shared_rows tables in this catalog, the children's
 * and the parents', each as two parallel lists (names in the manifest's schema, pg_proc.prosrc): the
 * catalog check fk-not-tenant-scoped takes a key as guarded only when the child's trigger calls one of
 * the first and the parent's one of the second, with its body.
 *
 * @example sharedRefFunctions(manifest, catalog).parent.names // => ['memberships_role_id_shared_ref_parent_check']
 */
export function sharedRefFunctions(manifest: Manifest, catalog: Catalog | undefined): Record<'child' | 'parent', { names: string[]; bodies: string[] }> {
  const child = { names: [] as string[], bodies: [] as string[] };
  const parent = { names: [] as string[], bodies: [] as string[] };
  if (!catalog) return { child, parent };
  for (const entry of manifest.tables) {
    const table = findRelation(catalog, manifest.schema, entry.name);
    if (!table) continue;
    for (const fk of foreignKeys(table)) {
      if (!isSharedRef(manifest, fk)) continue;
      const ref = fk.references!;
      const n = sharedRefNames(entry.name, fk.columns[0]);
      const step = { table: entry.name, column: fk.columns[0], parent: ref.table, parentKey: ref.columns[0], constraint: fk.name };
      child.names.push(n.functionName);
      child.bodies.push(`\n${sharedRefFunctionBody(manifest, step)}\n`);
      parent.names.push(n.parentFunctionName);
      parent.bodies.push(`\n${sharedRefParentFunctionBody(manifest, step)}\n`);
    }
  }
  return { child, parent };
}
