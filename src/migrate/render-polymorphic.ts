// Renders the enforcement of one polymorphic pair: a constraint trigger that rejects a row whose
// target (chosen by the type value) is missing or belongs to another tenant, then a scan of the rows already there.
import type { LiveContext } from '../config/live-context.js';
import { commentName, displayName, ident, literal, qualified, regclassText } from '../db/quote.js';
import type { PolymorphicStep } from './plan-polymorphic.js';
import { doBlock, dropTriggerSteps } from './render-sql.js';

/** `target.key = row.id`, as text when the id column's type differs from the key's (text ids of uuid/bigint rows). */
function keyMatch(step: PolymorphicStep, key: string, keyType: string, row: string): string {
  const id = `${row}.${ident(step.idColumn)}`;
  return step.idType === keyType ? `t.${ident(key)} = ${id}` : `t.${ident(key)}::text = ${id}::text`;
}

/** The condition "this row's target exists in its own tenant" for one target, over `row` (NEW or an alias). */
function targetHolds(live: LiveContext, step: PolymorphicStep, i: number, row: string): string {
  const { schema, tenant } = live.manifest;
  const target = step.targets[i];
  const c = ident(tenant.column);
  const sameTenant = target.sharedRows ? `(t.${c} = ${row}.${c} OR t.${c} IS NULL)` : `t.${c} = ${row}.${c}`;
  return `EXISTS (SELECT FROM ${qualified(schema, target.table)} t WHERE ${keyMatch(step, target.key, target.keyType, row)} AND ${sameTenant})`;
}

/** Up and down SQL of a polymorphic step (validate phase). */
export function renderPolymorphic(live: LiveContext, step: PolymorphicStep): { up: string[]; down: string[] } {
  const { schema, tenant } = live.manifest;
  const t = qualified(schema, step.table);
  const tn = commentName(schema, step.table);
  const fn = qualified(schema, step.functionName);
  const pair = `${displayName(schema, step.table)} (${step.typeColumn}, ${step.idColumn})`;
  const type = `NEW.${ident(step.typeColumn)}`;
  const branches = step.targets.map(
    (target, i) =>
      `  ${i === 0 ? 'IF' : 'ELSIF'} ${type} = ${literal(target.type)} THEN\n` +
      `    IF ${targetHolds(live, step, i, 'NEW')} THEN\n      RETURN NULL;\n    END IF;`,
  );
  const fail = (what: string) =>
    `RAISE EXCEPTION USING ERRCODE = '23503', MESSAGE = format(${literal(`%s: ${what}`)}, ${literal(pair)}, ${type}, NEW.${ident(step.idColumn)});`;
  const body = [
    'BEGIN',
    `  IF NEW.${ident(step.idColumn)} IS NULL THEN\n    RETURN NULL;\n  END IF;`,
    ...branches,
    `  ELSE\n    ${fail('type %L names no target (id %s)')}\n  END IF;`,
    `  ${fail("no %s row with id %s in the row's own tenant")}`,
    'END',
  ].join('\n');
  let tag = '$fn$';
  for (let i = 1; body.includes(tag); i++) tag = `$fn${i}$`;
  const reg = literal(regclassText(schema, step.table));
  const holds = step.targets
    .map((target, i) => `(x.${ident(step.typeColumn)} = ${literal(target.type)} AND ${targetHolds(live, step, i, 'x')})`)
    .join('\n       OR ');
  const columns = [step.typeColumn, step.idColumn, tenant.column].map(ident).join(', ');
  return {
    up: [
      `-- Polymorphic pair (${commentName(step.typeColumn)}, ${commentName(step.idColumn)}) -> ${step.targets.map((x) => commentName(x.table)).join(', ')}:`,
      `-- no foreign key can say "the target of this type, in my tenant"; a constraint trigger does. It rejects`,
      `-- (SQLSTATE 23503) a row whose type names no target or whose target is missing or of another tenant.`,
      `-- SECURITY INVOKER on purpose: the check runs with the writer's rights, so under row-level security the`,
      `-- application role sees only its own tenant's targets, and "not visible" and "other tenant" both reject;`,
      `-- a definer function would see (and so reveal) every tenant's rows. search_path is pinned and every`,
      `-- name schema-qualified, so no caller can shadow them. (Deleting a target later is not checked, as before.)`,
      `-- Lock: none on ${tn} (CREATE OR REPLACE FUNCTION).`,
      `CREATE OR REPLACE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql SECURITY INVOKER`,
      `  SET search_path = pg_catalog, pg_temp AS ${tag}\n${body}\n${tag};`,
      `-- Lock: SHARE ROW EXCLUSIVE on ${tn} for an instant (writes wait; reads go on); skipped when a previous run made it.`,
      doBlock(
        `  IF NOT EXISTS (SELECT FROM pg_catalog.pg_trigger WHERE tgrelid = to_regclass(${reg}) AND tgname = ${literal(step.triggerName)}) THEN\n` +
          `    CREATE CONSTRAINT TRIGGER ${ident(step.triggerName)} AFTER INSERT OR UPDATE OF ${columns} ON ${t}\n` +
          `      FOR EACH ROW EXECUTE FUNCTION ${fn}();\n  END IF;`,
      ),
      `-- The trigger checks every write from now on; this scan proves the rows already there.`,
      `-- Lock: ACCESS SHARE on ${tn} and the targets during one scan (reads and writes go on).`,
      doBlock(
        `  SELECT count(*) INTO n FROM ${t} x\n   WHERE x.${ident(step.idColumn)} IS NOT NULL\n     AND NOT coalesce(${holds}, false);\n` +
          `  IF n > 0 THEN\n    RAISE EXCEPTION USING ERRCODE = '23503',\n      MESSAGE = format(${literal('%s: %s row(s) reference no target of their own tenant')}, ${literal(pair)}, n),\n` +
          `      HINT = ${literal("fix them by hand (the audit's cross-tenant-reference check lists them), then run migrate again")};\n  END IF;`,
        '  n bigint;',
      ),
    ],
    down: dropTriggerSteps(tn, t, ident(step.triggerName), fn),
  };
}
