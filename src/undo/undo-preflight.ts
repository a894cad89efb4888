// undo's preflight: checks the rows an undo step would write against today's constraints (NOT NULL,
// CHECK, foreign keys both ways, unique indexes) before the step runs, and names the migration that
// made a violated constraint, so the user knows which phase to step back first.
import type pg from 'pg';
import type { CatalogTable } from '../db/catalog.js';
import { ident, qualified } from '../db/quote.js';
import type { RowKey } from '../db/table-keys.js';
import { isPgServerError } from '../errors.js';
import { readMigrationDir } from '../migrate/migration-file.js';
import { appliedMigrationNames, migrationsTableExists } from '../migrate/migrations-table.js';
import { shellQuote } from '../shell-quote.js';

/**
 * The rows one undo step would write, as SQL: a SELECT whose columns are the table's columns with
 * their values after the step, plus `__key` (the row's recorded key, jsonb) and `__ctid` (the row it
 * replaces; NULL for a re-inserted row).
 */
export interface RestoredRows {
  table: CatalogTable;
  sql: string;
  params: unknown[];
  /** The columns the step changes; 'all' for a re-insert. */
  changed: readonly string[] | 'all';
  /** Changed columns the step sets to NULL in every row (undoing a fill): no unique key or MATCH SIMPLE FK holding one can fail. */
  setsNull?: readonly string[];
}

export type ViolationKind = 'not-null' | 'check' | 'foreign-key' | 'referenced' | 'unique' | 'other';

/** A constraint the undo would violate, with the rows that would violate it. */
export interface UndoViolation {
  kind: ViolationKind;
  /** schema.table of the rows written. */
  table: string;
  /** The constraint or index name; `NOT NULL` for a column's NOT NULL. */
  constraint: string;
  columns: string[];
  /** Rows that would violate it (0 when only the server's error tells: kind 'other'). */
  count: number;
  /** Keys of a few of those rows. */
  samples: RowKey[];
  /** What the constraint says, in words. */
  detail: string;
  /** The applied migration that created the constraint, when one did. */
  migration?: { name: string; phase: string | null; position: number };
}

/** The step back that lifts every violated constraint a migration made: `migrate down --count N`. */
export interface StepBack {
  count: number;
  /** The oldest migration reverted (the one that made the earliest violated constraint). */
  to: string;
  phase: string | null;
  command: string;
}

const SAMPLES = 5;

type RowCheck = { v: Omit<UndoViolation, 'table' | 'count' | 'samples'>; condition: string };

/**
 * The rows of `restored` that meet each condition (SQL on alias r): one pass counts them all (the
 * usual case, no violation, costs one scan of the restored rows); a few keys are then read for each
 * condition some rows meet.
 */
async function violating(tx: pg.ClientBase, rows: RestoredRows, checks: RowCheck[]): Promise<{ count: number; samples: RowKey[] }[]> {
  if (checks.length === 0) return [];
  const { rows: counted } = await tx.query<Record<string, string>>(
    `SELECT ${checks.map((c, i) => `count(*) FILTER (WHERE ${c.condition})::int8 AS n${i}`).join(', ')} FROM (${rows.sql}) r`,
    rows.params,
  );
  const out: { count: number; samples: RowKey[] }[] = [];
  for (const [i, c] of checks.entries()) {
    const count = Number(counted[0][`n${i}`]);
    if (count === 0) {
      out.push({ count, samples: [] });
      continue;
    }
    const { rows: found } = await tx.query<{ key: RowKey }>(
      `SELECT r.__key AS key FROM (${rows.sql}) r WHERE ${c.condition} ORDER BY r.__key LIMIT ${SAMPLES}`,
      rows.params,
    );
    out.push({ count, samples: found.map((f) => f.key) });
  }
  return out;
}

const touches = (rows: RestoredRows, columns: readonly string[]): boolean =>
  rows.changed === 'all' || columns.some((c) => rows.changed.includes(c));

/**
 * Every constraint of today's schema the rows of one step would violate; empty when the step can run.
 * Runs in the undo's transaction right before the step, so earlier steps are already in effect.
 */
export async function checkRestoredRows(tx: pg.ClientBase, rows: RestoredRows): Promise<UndoViolation[]> {
  const { table } = rows;
  const name = `${table.schema}.${table.name}`;
  const rel = qualified(table.schema, table.name);
  const out: UndoViolation[] = [];
  const add = (v: Omit<UndoViolation, 'table' | 'count' | 'samples'>, found: { count: number; samples: RowKey[] }) => {
    if (found.count > 0) out.push({ ...v, table: name, ...found });
  };

  // NOT NULL, CHECK and the foreign keys out of the table: conditions on each row, counted in one pass.
  const rowChecks: RowCheck[] = [];
  for (const c of table.columns) {
    if (!c.notNull || !touches(rows, [c.name])) continue;
    rowChecks.push({ v: { kind: 'not-null', constraint: 'NOT NULL', columns: [c.name], detail: `${c.name} is NOT NULL` }, condition: `r.${ident(c.name)} IS NULL` });
  }

  const { rows: checks } = await tx.query<{ name: string; expr: string; def: string }>(
    `SELECT conname AS name, pg_get_expr(conbin, conrelid) AS expr, pg_get_constraintdef(oid) AS def
       FROM pg_catalog.pg_constraint WHERE conrelid = $1::regclass AND contype = 'c' ORDER BY conname`,
    [rel],
  );
  for (const c of checks) {
    // A NOT VALID check is enforced on every row written; only a FALSE result violates it.
    rowChecks.push({ v: { kind: 'check', constraint: c.name, columns: [], detail: c.def }, condition: `(${c.expr}) IS FALSE` });
  }

  const { rows: fks } = await tx.query<{ name: string; cols: string[]; ref_schema: string; ref_name: string; refcols: string[]; full: boolean; def: string }>(
    `SELECT c.conname AS name, rn.nspname AS ref_schema, rc.relname AS ref_name, c.confmatchtype = 'f' AS full, pg_get_constraintdef(c.oid) AS def,
            array(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(n, i) JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.i)::text[] AS cols,
            array(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY k(n, i) JOIN pg_catalog.pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.i)::text[] AS refcols
       FROM pg_catalog.pg_constraint c
       JOIN pg_catalog.pg_class rc ON rc.oid = c.confrelid JOIN pg_catalog.pg_namespace rn ON rn.oid = rc.relnamespace
      WHERE c.conrelid = $1::regclass AND c.contype = 'f' ORDER BY c.conname`,
    [rel],
  );
  const nulled = (columns: readonly string[]) => columns.some((c) => rows.setsNull?.includes(c));
  for (const fk of fks) {
    if (!touches(rows, fk.cols) || (!fk.full && nulled(fk.cols))) continue;
    const all = fk.cols.map((c) => `r.${ident(c)} IS NOT NULL`).join(' AND ');
    const missing = `NOT EXISTS (SELECT FROM ${qualified(fk.ref_schema, fk.ref_name)} p WHERE ${fk.cols.map((c, i) => `p.${ident(fk.refcols[i])} = r.${ident(c)}`).join(' AND ')})`;
    const partial = fk.full && fk.cols.length > 1 ? ` OR num_nonnulls(${fk.cols.map((c) => `r.${ident(c)}`).join(', ')}) BETWEEN 1 AND ${fk.cols.length - 1}` : '';
    rowChecks.push({ v: { kind: 'foreign-key', constraint: fk.name, columns: fk.cols, detail: fk.def }, condition: `((${all} AND ${missing})${partial})` });
  }
  const counted = await violating(tx, rows, rowChecks);
  for (const [i, c] of rowChecks.entries()) add(c.v, counted[i]);

  if (rows.changed !== 'all') {
    // Rows of other tables that reference a value this step changes (ON UPDATE NO ACTION / RESTRICT).
    const { rows: incoming } = await tx.query<{ name: string; child_schema: string; child_name: string; cols: string[]; refcols: string[]; def: string }>(
      `SELECT c.conname AS name, cn.nspname AS child_schema, cc.relname AS child_name, pg_get_constraintdef(c.oid) AS def,
              array(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(n, i) JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.i)::text[] AS cols,
              array(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY k(n, i) JOIN pg_catalog.pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.i)::text[] AS refcols
         FROM pg_catalog.pg_constraint c
         JOIN pg_catalog.pg_class cc ON cc.oid = c.conrelid JOIN pg_catalog.pg_namespace cn ON cn.oid = cc.relnamespace
        WHERE c.confrelid = $1::regclass AND c.contype = 'f' AND c.confupdtype IN ('a', 'r') ORDER BY c.conname`,
      [rel],
    );
    for (const fk of incoming) {
      if (!touches(rows, fk.refcols)) continue;
      const child = qualified(fk.child_schema, fk.child_name);
      const now = (alias: string) => `(${fk.refcols.map((c) => `${alias}.${ident(c)}`).join(', ')})`;
      const { rows: found } = await tx.query<{ key: RowKey; n: string }>(
        `SELECT r.__key AS key, count(*) OVER ()::int8 AS n
           FROM (${rows.sql}) r JOIN ${rel} t ON t.ctid = r.__ctid
          WHERE ${now('t')} IS DISTINCT FROM ${now('r')}
            AND EXISTS (SELECT FROM ${child} c WHERE ${fk.cols.map((c, i) => `c.${ident(c)} = t.${ident(fk.refcols[i])}`).join(' AND ')})
          ORDER BY r.__key LIMIT ${SAMPLES}`,
        rows.params,
      );
      add(
        { kind: 'referenced', constraint: fk.name, columns: fk.refcols, detail: `rows of ${fk.child_schema}.${fk.child_name} reference (${fk.refcols.join(', ')}): ${fk.def}` },
        { count: found.length > 0 ? Number(found[0].n) : 0, samples: found.map((f) => f.key) },
      );
    }
  }

  const { rows: uniques } = await tx.query<{ name: string; keys: string[]; pred: string | null; nnd: boolean; cols: string[]; def: string }>(
    `SELECT c.relname AS name, pg_get_expr(i.indpred, i.indrelid) AS pred, pg_get_indexdef(i.indexrelid) AS def,
            coalesce((to_jsonb(i) ->> 'indnullsnotdistinct')::boolean, false) AS nnd,
            array(SELECT pg_get_indexdef(i.indexrelid, k, true) FROM generate_series(1, i.indnkeyatts) k ORDER BY k)::text[] AS keys,
            array(SELECT a.attname FROM pg_catalog.pg_attribute a WHERE a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey::int2[]) AND a.attnum > 0)::text[] AS cols
       FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
      WHERE i.indrelid = $1::regclass AND i.indisunique AND i.indisready ORDER BY c.relname`,
    [rel],
  );
  for (const u of uniques) {
    // An expression index may read any column: check it whenever the step changes anything it lists, or has expressions.
    if (!touches(rows, u.cols) && u.cols.length === u.keys.length) continue;
    if (!u.nnd && u.keys.some((k) => rows.setsNull?.some((c) => k === ident(c) || k === c))) continue;
    const keys = u.keys.map((k, i) => `(${k}) AS __k${i}`).join(', ');
    const pred = u.pred ? ` WHERE (${u.pred})` : '';
    // A row with a NULL in its key never conflicts (unless NULLS NOT DISTINCT): left out early.
    const restoredPred = [...(u.pred ? [`(${u.pred})`] : []), ...(u.nnd ? [] : u.keys.map((k) => `(${k}) IS NOT NULL`))];
    const rkWhere = restoredPred.length > 0 ? ` WHERE ${restoredPred.join(' AND ')}` : '';
    const same = (a: string, b: string) =>
      u.keys.map((_, i) => (u.nnd ? `${a}.__k${i} IS NOT DISTINCT FROM ${b}.__k${i}` : `${a}.__k${i} = ${b}.__k${i}`)).join(' AND ');
    const { rows: found } = await tx.query<{ key: RowKey; n: string }>(
      `WITH r AS (${rows.sql}),
            rk AS (SELECT s.__key, s.__ctid, ${keys} FROM (SELECT * FROM r) s${rkWhere}),
            ek AS (SELECT e.ctid AS __ctid, ${keys} FROM (SELECT ctid, * FROM ${rel}) e${pred})
       SELECT rk.__key AS key, count(*) OVER ()::int8 AS n FROM rk
        WHERE (EXISTS (SELECT FROM ek WHERE ${same('ek', 'rk')} AND NOT EXISTS (SELECT FROM r WHERE r.__ctid = ek.__ctid))
               OR EXISTS (SELECT FROM rk r2 WHERE ${same('r2', 'rk')} AND r2.__key IS DISTINCT FROM rk.__key))
        ORDER BY rk.__key LIMIT ${SAMPLES}`,
      rows.params,
    );
    add(
      { kind: 'unique', constraint: u.name, columns: u.cols, detail: u.def },
      { count: found.length > 0 ? Number(found[0].n) : 0, samples: found.map((f) => f.key) },
    );
  }
  return out;
}

/**
 * Runs one step's statement under a savepoint: a constraint the checks above do not model (an
 * exclusion constraint, a trigger) comes back as a violation instead of aborting the transaction.
 */
export async function runStepGuarded<T>(tx: pg.ClientBase, table: string, fn: () => Promise<T>): Promise<T | UndoViolation> {
  await tx.query('SAVEPOINT crm_tenancy_undo_step');
  try {
    const result = await fn();
    await tx.query('RELEASE SAVEPOINT crm_tenancy_undo_step');
    return result;
  } catch (error) {
    if (!isPgServerError(error) || !error.code.startsWith('23')) throw error;
    await tx.query('ROLLBACK TO SAVEPOINT crm_tenancy_undo_step');
    return { kind: 'other', table, constraint: error.constraint ?? '', columns: error.column ? [error.column] : [], count: 0, samples: [], detail: error.detail ?? error.message };
  }
}

export const isViolation = (x: unknown): x is UndoViolation =>
  typeof x === 'object' && x !== null && 'kind' in x && 'constraint' in x && 'samples' in x;

/**
 * Finds, for each violation, the applied migration that created its constraint (its up section names
 * it; a NOT NULL: `ALTER TABLE … ALTER COLUMN … SET NOT NULL`), and the step back that reverts the
 * earliest of them: `crm-tenancy migrate down --count N`. Undefined when no migration made any.
 */
export async function findStepBack(
  db: pg.ClientBase,
  violations: UndoViolation[],
  stateSchema: string,
  migrationsDir: string,
): Promise<StepBack | undefined> {
  if (!(await migrationsTableExists(db, stateSchema))) return undefined;
  const applied = await appliedMigrationNames(db, stateSchema);
  const files = await readMigrationDir(migrationsDir).catch(() => []);
  const upText = new Map(files.map((f) => [f.name, { text: f.up.map((u) => u.sql).join('\n'), phase: f.meta?.phase ?? null }]));
  let earliest: UndoViolation['migration'];
  for (const v of violations) {
    if (!v.constraint) continue;
    const [schema, ...rest] = v.table.split('.');
    const needle =
      v.kind === 'not-null'
        ? `${qualified(schema, rest.join('.'))} ALTER COLUMN ${ident(v.columns[0])} SET NOT NULL`
        : ident(v.constraint);
    const position = applied.findIndex((name) => upText.get(name)?.text.includes(needle));
    if (position < 0) continue;
    v.migration = { name: applied[position], phase: upText.get(applied[position])!.phase, position };
    if (!earliest || position < earliest.position) earliest = v.migration;
  }
  if (!earliest) return undefined;
  const count = applied.length - earliest.position;
  const dir = migrationsDir === 'migrations' ? '' : ` --migrations-dir ${shellQuote(migrationsDir)}`;
  return { count, to: earliest.name, phase: earliest.phase, command: `crm-tenancy migrate down --count ${count}${dir}` };
}
