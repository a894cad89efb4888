// Renders the guard of one foreign key into a shared_rows table: a constraint trigger that rejects a
// row whose referenced row is another tenant's own (shared rows, NULL tenant, stay allowed), then a
// scan of the rows already there.
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

/** "The referenced row is shared or the row's own tenant's", over `row` (NEW or an alias). */
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
    `  IF NEW.${ident(step.column)} IS NULL OR ${holds(manifest, step, 'NEW')} THEN\n    RETURN NULL;\n  END IF;`,
    `  RAISE EXCEPTION USING ERRCODE = '23503', MESSAGE = format(${literal("%s: %s is neither a shared row nor a row of the row's own tenant")}, ${literal(what)}, NEW.${ident(step.column)});`,
    'END',
  ].join('\n');
}

/** Up and down SQL of a shared-ref step (composite phase). */
export function renderSharedRef(live: LiveContext, step: SharedRefStep): { up: string[]; down: string[] } {
  const { schema, tenant } = live.manifest;
  const t = qualified(schema, step.table);
  const tn = commentName(schema, step.table);
  const pn = commentName(schema, step.parent);
  const fn = qualified(schema, step.functionName);
  const what = `${schema}.${step.table}.${step.column} -> ${schema}.${step.parent}`;
  const body = sharedRefFunctionBody(live.manifest, step);
  let tag = '$fn$';
  for (let i = 1; body.includes(tag); i++) tag = `$fn${i}$`;
  const reg = literal(regclassText(schema, step.table));
  const columns = [step.column, tenant.column].map(ident).join(', ');
  return {
    up: [
      `-- ${commentName(step.table, step.column)} -> ${pn} (${commentName(step.constraint)}): ${pn} keeps shared rows (NULL ${commentName(tenant.column)}), which no`,
      `-- composite (tenant, id) key could match, so the key stays single-column and this constraint trigger rejects`,
      `-- (SQLSTATE 23503) a row pointing at another tenant's own ${pn} row; shared rows stay allowed. SECURITY INVOKER:`,
      `-- under row-level security the writer sees only its tenant's rows and the shared ones, and a definer function`,
      `-- would see (and reveal) every tenant's. search_path is pinned, every name schema-qualified. (A later change of`,
      `-- the referenced row's tenant is not checked; the policies let no tenant change a shared row.) Its arguments`,
      `-- mark it for the audit (fk-not-tenant-scoped then knows the key is guarded).`,
      `-- Lock: none on ${tn} (CREATE OR REPLACE FUNCTION).`,
      `CREATE OR REPLACE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql SECURITY INVOKER\n  SET search_path = pg_catalog, pg_temp AS ${tag}\n${body}\n${tag};`,
      `-- Lock: SHARE ROW EXCLUSIVE on ${tn} for an instant (writes wait; reads go on); skipped when a previous run made it.`,
      doBlock(
        `  IF NOT EXISTS (SELECT FROM pg_catalog.pg_trigger WHERE tgrelid = to_regclass(${reg}) AND tgname = ${literal(step.triggerName)}) THEN\n` +
          `    CREATE CONSTRAINT TRIGGER ${ident(step.triggerName)} AFTER INSERT OR UPDATE OF ${columns} ON ${t}\n` +
          `      FOR EACH ROW EXECUTE FUNCTION ${fn}(${literal(SHARED_REF_MARK)}, ${literal(step.column)});\n  END IF;`,
      ),
      `-- The trigger checks every write from now on; this scan proves the rows already there (migrate checked them first).`,
      `-- Lock: ACCESS SHARE on ${tn} and ${pn} during one scan (reads and writes go on).`,
      doBlock(
        `  SELECT count(*) INTO n FROM ${t} x\n   WHERE x.${ident(step.column)} IS NOT NULL AND NOT ${holds(live.manifest, step, 'x')};\n` +
          `  IF n > 0 THEN\n    RAISE EXCEPTION USING ERRCODE = '23503',\n      MESSAGE = format(${literal("%s: %s row(s) reference another tenant's own row")}, ${literal(what)}, n);\n  END IF;`,
        '  n bigint;',
      ),
    ],
    down: dropTriggerSteps(tn, t, ident(step.triggerName), fn),
  };
}
