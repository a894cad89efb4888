// Renders the guard of one foreign key into a shared_rows table: a constraint trigger on the child that
// rejects a row whose referenced row is another tenant's own (shared rows, NULL tenant, stay allowed),
// one on the parent that rejects giving a referenced row a tenant other than its referencing rows',
// then a scan of the rows already there.
import type { LiveContext } from '../config/live-context.js';
import type { Manifest } from '../config/manifest.js';
import { commentName, ident, literal, qualified, regclassText } from '../db/quote.js';
import type { SharedRefStep } from './plan-shared-refs.js';
import { doBlock, dropTriggerSteps } from './render-sql.js';

/**
 * The trigger's first argument: how the audit's fk-not-tenant-scoped recognizes the guard of a key
 * (tgargs = mark, column). The function ignores its arguments.
 */
export const SHARED_REF_MARK = 'crm_tenancy.shared_ref';

/** The parent-side trigger's first argument (tgargs = mark, child table, column): the audit pairs it with its key so. */
export const SHARED_REF_PARENT_MARK = 'crm_tenancy.shared_ref_parent';

/**
 * "The referenced row is shared or the row's own tenant's", over `row` ((NEW) or an alias). A field of
 * NEW or OLD is written `(NEW).col`: PL/pgSQL does not resolve `NEW.U&"…"` (the form ident() gives a
 * name with a control character), `(NEW).U&"…"` it does.
 */
function holds(manifest: Pick<Manifest, 'schema' | 'tenant'>, step: Pick<SharedRefStep, 'column' | 'parent' | 'parentKey'>, row: string): string {
  const { schema, tenant } = manifest;
  const c = ident(tenant.column);
  return (
    `EXISTS (SELECT FROM ${qualified(schema, step.parent)} p WHERE p.${ident(step.parentKey)} = ${row}.${ident(step.column)}` +
    ` AND (p.${c} = ${row}.${c} OR p.${c} IS NULL))`
  );
}

/**
 * The body of the guard's function, as migrate writes it between its dollar quotes (pg_proc.prosrc
 * holds it with a newline either side): the audit takes the trigger as proof only when its function
 * still has this body.
 */
export function sharedRefFunctionBody(manifest: Pick<Manifest, 'schema' | 'tenant'>, step: Pick<SharedRefStep, 'table' | 'column' | 'parent' | 'parentKey'>): string {
  const { schema } = manifest;
  const what = `${schema}.${step.table}.${step.column} -> ${schema}.${step.parent}`;
  return [
    'BEGIN',
    `  IF (NEW).${ident(step.column)} IS NULL OR ${holds(manifest, step, '(NEW)')} THEN\n    RETURN NULL;\n  END IF;`,
    `  RAISE EXCEPTION USING ERRCODE = '23503', MESSAGE = format(${literal("%s: %s is neither a shared row nor a row of the row's own tenant")}, ${literal(what)}, (NEW).${ident(step.column)});`,
    'END',
  ].join('\n');
}

/**
 * The body of the parent-side guard's function (as sharedRefFunctionBody): a referenced row given a
 * tenant (or a new key) must not then be referenced by another tenant's rows. Skipped when neither
 * the tenant nor the key changed, or the new tenant is NULL (shared again). Under row-level security
 * on the child it refuses instead of checking (the session would not see the other tenants' rows).
 */
export function sharedRefParentFunctionBody(
  manifest: Pick<Manifest, 'schema' | 'tenant'>,
  step: Pick<SharedRefStep, 'table' | 'column' | 'parent' | 'parentKey' | 'constraint'>,
): string {
  const { schema, tenant } = manifest;
  const c = ident(tenant.column);
  const k = ident(step.parentKey);
  const what = `${schema}.${step.table}.${step.column} -> ${schema}.${step.parent}`;
  const raise = (message: string, ...args: string[]) =>
    `    RAISE EXCEPTION USING ERRCODE = '23503',\n      MESSAGE = format(${literal(message)},\n        ${[literal(what), literal(step.constraint), ...args].join(', ')});`;
  return [
    'BEGIN',
    `  IF (NEW).${c} IS NULL OR ((NEW).${c} IS NOT DISTINCT FROM (OLD).${c} AND (NEW).${k} IS NOT DISTINCT FROM (OLD).${k}) THEN
    RETURN NULL;
  END IF;`,
    `  IF pg_catalog.row_security_active(pg_catalog.to_regclass(${literal(regclassText(schema, step.table))})) THEN`,
    raise("%s (%s): cannot give row %s the tenant %s under row-level security on the referencing table; run it as a role that bypasses it", `(NEW).${k}`, `(NEW).${c}`),
    '  END IF;',
    // Under REPEATABLE READ or SERIALIZABLE the query below reads the transaction's snapshot: a row a
    // concurrent transaction references this one with, committed while FOR UPDATE waited for it, stays
    // unseen (a lock, unlike an update, raises no serialization failure). Refused, not checked blind.
    `  IF pg_catalog.current_setting('transaction_isolation') <> 'read committed' THEN`,
    raise(
      "%s (%s): cannot give row %s the tenant %s in a %s transaction (a concurrent transaction's new reference to it would go unseen); run it under READ COMMITTED",
      `(NEW).${k}`,
      `(NEW).${c}`,
      "pg_catalog.upper(pg_catalog.current_setting('transaction_isolation'))",
    ),
    '  END IF;',
    // FOR UPDATE (the UPDATE itself took FOR NO KEY UPDATE) waits for the transactions whose foreign-key
    // check holds FOR KEY SHARE on the row, so that the query below sees their child rows once committed.
    `  PERFORM FROM ${qualified(schema, step.parent)} p WHERE p.${k} = (NEW).${k} FOR UPDATE;`,
    `  IF EXISTS (SELECT FROM ${qualified(schema, step.table)} x WHERE x.${ident(step.column)} = (NEW).${k} AND x.${c} IS NOT NULL AND x.${c} <> (NEW).${c}) THEN`,
    raise("%s (%s): row %s, now of tenant %s, is referenced by rows of another tenant; it can only be shared (NULL tenant) or theirs", `(NEW).${k}`, `(NEW).${c}`),
    '  END IF;',
    '  RETURN NULL;',
    'END',
  ].join('\n');
}

/** `CREATE OR REPLACE FUNCTION` of a trigger function with `body` (a dollar tag the body does not hold). */
function triggerFunction(fn: string, body: string): string {
  let tag = '$fn$';
  for (let i = 1; body.includes(tag); i++) tag = `$fn${i}$`;
  return `CREATE OR REPLACE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql SECURITY INVOKER\n  SET search_path = pg_catalog, pg_temp AS ${tag}\n${body}\n${tag};`;
}

/** Up and down SQL of a shared-ref step (composite phase). */
export function renderSharedRef(live: LiveContext, step: SharedRefStep): { up: string[]; down: string[] } {
  const { schema, tenant } = live.manifest;
  const t = qualified(schema, step.table);
  const tn = commentName(schema, step.table);
  const pn = commentName(schema, step.parent);
  const fn = qualified(schema, step.functionName);
  const what = `${schema}.${step.table}.${step.column} -> ${schema}.${step.parent}`;
  const p = qualified(schema, step.parent);
  const pfn = qualified(schema, step.parentFunctionName);
  const reg = literal(regclassText(schema, step.table));
  const preg = literal(regclassText(schema, step.parent));
  const columns = [step.column, tenant.column].map(ident).join(', ');
  const parentColumns = [...new Set([tenant.column, step.parentKey])].map(ident).join(', ');
  return {
    up: [
      `-- ${commentName(step.table, step.column)} -> ${pn} (${commentName(step.constraint)}): ${pn} keeps shared rows (NULL ${commentName(tenant.column)}), which no`,
      `-- composite (tenant, id) key could match, so the key stays single-column and this constraint trigger rejects`,
      `-- (SQLSTATE 23503) a row pointing at another tenant's own ${pn} row; shared rows stay allowed. SECURITY INVOKER:`,
      `-- under row-level security the writer sees only its tenant's rows and the shared ones, and a definer function`,
      `-- would see (and reveal) every tenant's. search_path is pinned, every name schema-qualified. (A later change of`,
      `-- the referenced row's tenant is checked by the trigger on ${pn} below.) Its arguments`,
      `-- mark it for the audit (fk-not-tenant-scoped then knows the key is guarded).`,
      `-- Lock: none on ${tn} (CREATE OR REPLACE FUNCTION).`,
      triggerFunction(fn, sharedRefFunctionBody(live.manifest, step)),
      `-- Lock: SHARE ROW EXCLUSIVE on ${tn} for an instant (writes wait; reads go on); skipped when a previous run made it.`,
      doBlock(
        `  IF NOT EXISTS (SELECT FROM pg_catalog.pg_trigger WHERE tgrelid = to_regclass(${reg}) AND tgname = ${literal(step.triggerName)}) THEN\n` +
          `    CREATE CONSTRAINT TRIGGER ${ident(step.triggerName)} AFTER INSERT OR UPDATE OF ${columns} ON ${t}\n` +
          `      FOR EACH ROW EXECUTE FUNCTION ${fn}(${literal(SHARED_REF_MARK)}, ${literal(step.column)});\n  END IF;`,
      ),
      `-- The other side: the child's trigger fires on the child's writes only, so an UPDATE giving a referenced ${pn} row a`,
      `-- tenant (a shared row given to one tenant while others use it, or a row moved to another tenant), or another row's`,
      `-- key, would make cross-tenant references without one. This constraint trigger on ${pn} (AFTER UPDATE of the tenant`,
      `-- column and the key, not deferrable, like the child's) rejects it (SQLSTATE 23503) when a ${tn} row of another`,
      `-- non-NULL tenant references the row; NULL (shared again) stays allowed. SECURITY INVOKER, and under row-level`,
      `-- security on ${tn} it refuses such a change outright: a check that sees only the updater's tenant's rows would`,
      `-- pass what it cannot see, and a definer function would hand every tenant's rows to a function the application's`,
      `-- writes run (verify's definer-function probe fails on it) while a table owner under FORCE ROW LEVEL SECURITY would`,
      `-- see no more anyway. A role that bypasses row-level security (which alone can change a row's tenant past the`,
      `-- policies) sees every row. One trigger per foreign key, named after it, so that down and the audit handle each key`,
      `-- alone. It locks the row FOR UPDATE first: a transaction whose new ${tn} row references it (its foreign-key check`,
      `-- holds FOR KEY SHARE) is waited for, then seen. Under REPEATABLE READ or SERIALIZABLE the check would read an`,
      `-- older snapshot and miss that row, so such a change is refused there: run it under READ COMMITTED.`,
      `-- Lock: none on ${pn} (CREATE OR REPLACE FUNCTION).`,
      triggerFunction(pfn, sharedRefParentFunctionBody(live.manifest, step)),
      `-- Lock: SHARE ROW EXCLUSIVE on ${pn} for an instant (writes wait; reads go on); skipped when a previous run made it.`,
      doBlock(
        `  IF NOT EXISTS (SELECT FROM pg_catalog.pg_trigger WHERE tgrelid = to_regclass(${preg}) AND tgname = ${literal(step.parentTriggerName)}) THEN\n` +
          `    CREATE CONSTRAINT TRIGGER ${ident(step.parentTriggerName)} AFTER UPDATE OF ${parentColumns} ON ${p}\n` +
          `      FOR EACH ROW EXECUTE FUNCTION ${pfn}(${literal(SHARED_REF_PARENT_MARK)}, ${literal(step.table)}, ${literal(step.column)});\n  END IF;`,
      ),
      `-- The triggers check every write from now on; this scan proves the rows already there (migrate checked them first).`,
      `-- Lock: ACCESS SHARE on ${tn} and ${pn} during one scan (reads and writes go on).`,
      doBlock(
        `  SELECT count(*) INTO n FROM ${t} x\n   WHERE x.${ident(step.column)} IS NOT NULL AND NOT ${holds(live.manifest, step, 'x')};\n` +
          `  IF n > 0 THEN\n    RAISE EXCEPTION USING ERRCODE = '23503',\n      MESSAGE = format(${literal("%s: %s row(s) reference another tenant's own row")}, ${literal(what)}, n);\n  END IF;`,
        '  n bigint;',
      ),
    ],
    down: [...dropTriggerSteps(pn, p, ident(step.parentTriggerName), pfn), ...dropTriggerSteps(tn, t, ident(step.triggerName), fn)],
  };
}
