// undoRun: restores exactly what one backfill or dedupe run changed, in one transaction; listRuns for `undo --list`.
import type pg from 'pg';
import type { Manifest } from '../config/manifest.js';
import { findRelation, readCatalog, type Catalog, type CatalogTable } from '../db/catalog.js';
import { ident, qualified } from '../db/quote.js';
import { withRollback, withTransaction } from '../db/transaction.js';
import { TenancyError } from '../errors.js';
import type { Logger } from '../logger.js';
import { silentLogger } from '../logger.js';
import { ensureStateSchema } from '../state/state-schema.js';
import { getRun, listRunRecords, lockRun, markRunUndone, runsTableExists } from '../state/runs.js';
import { acquireDataLock } from '../state/locks.js';
import { retryTransaction } from '../db/transaction.js';
import { withClient } from '../db/connection.js';
import { columnType, keyMatchesJson, primaryKeyColumns, type RowKey } from '../db/table-keys.js';
import { checkRestoredRows, findStepBack, isViolation, runStepGuarded, type RestoredRows, type StepBack, type UndoViolation } from './undo-preflight.js';

export type { StepBack, UndoViolation, ViolationKind } from './undo-preflight.js';

export interface UndoOptions {
  databaseUrl?: string;
  /** Use this connection instead of opening one (it is not closed). */
  client?: pg.Client;
  manifest: Manifest;
  runId: string;
  /** Run the undo in a transaction that is rolled back, and report what it would restore. */
  dryRun?: boolean;
  /** Where the migration files are, to name the migration that made a violated constraint (default `migrations`). */
  migrationsDir?: string;
  /** lock_timeout of the undo transaction, default 2000 ms (retried on 55P03). */
  lockTimeoutMs?: number;
  logger?: Logger;
}

export type UndoStepKind = 'fill' | 'detach' | 'reinsert' | 'repoint';

export interface UndoStep {
  kind: UndoStepKind;
  table: string;
  /** The column restored (fill: tenant column; detach: FK column; repoint: FK columns; reinsert: ''). */
  column: string;
  /** Recorded changes of this kind. */
  recorded: number;
  /** Restored now (dry run: would be). */
  restored: number;
  /** Not restored: the row changed since the run (or is gone / already back). */
  changedSince: number;
}

/** A row the run changed that was changed again afterwards, so undo left it alone. */
export interface ChangedSinceRow {
  kind: UndoStepKind;
  table: string;
  column: string;
  key: RowKey;
  /** The value the run wrote. */
  expected: unknown;
  /** The value now (null also when the row is gone: see `gone`). */
  actual: unknown;
  gone: boolean;
}

export interface UndoResult {
  runId: string;
  command: string;
  dryRun: boolean;
  steps: UndoStep[];
  restored: number;
  changedSince: ChangedSinceRow[];
  /**
   * Constraints of today's schema the restored rows would violate. When any, the undo refused:
   * nothing was changed (also without --dry-run), and `stepBack` names the migration to revert first.
   */
  refused: UndoViolation[];
  /** `migrate down --count N` reverting the migrations that made the violated constraints, when they did. */
  stepBack?: StepBack;
  /** Everything restored: no row had changed since the run, nothing refused. */
  ok: boolean;
}

/** Thrown inside the undo transaction to roll it back when a step would violate a constraint. */
class Refused extends Error {
  constructor(readonly result: UndoResult) {
    super('undo refused by its preflight');
  }
}

/** The violations found so far: a step with any is not run, and the transaction is rolled back at the end. */
interface Preflight {
  violations: UndoViolation[];
}

/** Checks the rows of a step, then runs it (guarded); false when it was refused (not run). */
async function checkedStep(tx: pg.ClientBase, pre: Preflight, restored: RestoredRows, run: () => Promise<pg.QueryResult>): Promise<pg.QueryResult | null> {
  const found = await checkRestoredRows(tx, restored);
  if (found.length > 0) {
    pre.violations.push(...found);
    return null;
  }
  const done = await runStepGuarded(tx, `${restored.table.schema}.${restored.table.name}`, run);
  if (isViolation(done)) {
    pre.violations.push(done);
    return null;
  }
  return done;
}

export interface RunSummary {
  id: string;
  command: string;
  status: string;
  startedBy: string;
  startedAt: Date;
  finishedAt: Date | null;
  undoneAt: Date | null;
  summary: Record<string, unknown> | null;
}

const SAMPLE_LIMIT = 1000;

/** The most recent backfill and dedupe runs, newest first (empty when nothing ran yet). */
export async function listRuns(options: { databaseUrl?: string; client?: pg.Client; manifest: Manifest; limit?: number }): Promise<RunSummary[]> {
  return withClient(options, 'crm-tenancy undo', async (client) => {
    if (!(await runsTableExists(client, options.manifest.stateSchema))) return [];
    const records = await listRunRecords(client, options.manifest.stateSchema, ['backfill', 'dedupe'], options.limit ?? 20);
    return records.map((r) => ({
      id: r.id,
      command: r.command,
      status: r.status,
      startedBy: r.startedBy,
      startedAt: r.startedAt,
      finishedAt: r.finishedAt,
      undoneAt: r.undoneAt,
      summary: r.summary,
    }));
  });
}

/**
 * Restores what a backfill or dedupe run changed: filled tenants back to NULL and detached FKs
 * back to their old value (only where the value is still the one the run wrote; others are
 * reported), archived rows re-inserted with their original keys, re-pointed references pointed
 * back. One transaction; the run is marked undone in it, so a second undo is refused.
 *
 * @example await undoRun({ manifest, databaseUrl, runId: 'dedupe-20261128T101500-3fa9' })
 */
export async function undoRun(options: UndoOptions): Promise<UndoResult> {
  const logger = options.logger ?? silentLogger;
  const { manifest, runId } = options;
  const stateSchema = manifest.stateSchema;
  return withClient(options, 'crm-tenancy undo', async (client) => {
    if (!(await runsTableExists(client, stateSchema))) throw unknownRun(runId);
    await ensureStateSchema(client, stateSchema);
    const release = await acquireDataLock(client, stateSchema, manifest.schema, 'undo');
    try {
      const head = await getRun(client, stateSchema, runId);
      if (!head) throw unknownRun(runId);
      const { command } = head;
      if (command !== 'backfill' && command !== 'dedupe') {
        throw new TenancyError('usage', `run ${runId} is a ${command} run; undo restores backfill and dedupe runs`);
      }
      const body = async (tx: pg.ClientBase): Promise<UndoResult> => {
        const locked = await lockRun(tx, stateSchema, runId);
        if (locked?.status === 'undone') {
          throw new TenancyError('usage', `run ${runId} was already undone (at ${new Date(locked.undoneAt!).toISOString()})`, {
            hint: 'an undo is not repeated; `crm-tenancy undo --list` shows the runs',
          });
        }
        const result: UndoResult = { runId, command, dryRun: Boolean(options.dryRun), steps: [], restored: 0, changedSince: [], refused: [], ok: true };
        const pre: Preflight = { violations: [] };
        if (command === 'backfill') await undoBackfill(tx, stateSchema, runId, result, pre);
        else await undoDedupe(tx, stateSchema, runId, result, pre);
        if (pre.violations.length > 0) {
          // Roll back every step already run: nothing is changed while any step would fail.
          throw new Refused({ ...result, steps: [], restored: 0, changedSince: [], refused: pre.violations, ok: false });
        }
        result.ok = result.changedSince.length === 0;
        result.restored = result.steps.reduce((n, s) => n + s.restored, 0);
        await markRunUndone(tx, stateSchema, runId, { restored: result.restored, changedSince: result.changedSince.length });
        return result;
      };
      const lockTimeoutMs = options.lockTimeoutMs ?? 2000;
      let result: UndoResult;
      try {
        result = await retryTransaction(
          () => (options.dryRun ? withRollback(client, body, { lockTimeoutMs }) : withTransaction(client, body, { lockTimeoutMs })),
          { logger, label: `undo ${runId}` },
        );
      } catch (error) {
        if (!(error instanceof Refused)) throw error;
        result = error.result;
        result.stepBack = await findStepBack(client, result.refused, stateSchema, options.migrationsDir ?? 'migrations');
        return result;
      }
      for (const row of result.changedSince.slice(0, 50)) {
        logger.warn(`${row.table} ${JSON.stringify(row.key)}: ${row.gone ? 'row is gone' : `${row.column} changed since the run`}; left as it is`);
      }
      return result;
    } finally {
      await release();
    }
  });
}

function unknownRun(runId: string): TenancyError {
  return new TenancyError('usage', `no backfill or dedupe run ${runId}`, { hint: '`crm-tenancy undo --list` shows the recent runs' });
}

async function catalogFor(tx: pg.ClientBase, schemas: string[]): Promise<Catalog> {
  return readCatalog(tx, [...new Set(schemas)]);
}

function tableOf(catalog: Catalog, schema: string, name: string): CatalogTable {
  const rel = findRelation(catalog, schema, name);
  if (!rel) throw new TenancyError('database', `table ${schema}.${name} changed by the run no longer exists; nothing was undone`);
  return rel;
}

async function undoBackfill(tx: pg.ClientBase, stateSchema: string, runId: string, result: UndoResult, pre: Preflight): Promise<void> {
  const changes = qualified(stateSchema, 'backfill_changed_rows');
  const { rows: groups } = await tx.query(
    `SELECT table_schema, table_name, column_name, kind = 'detach' AS detach, sum(rows)::int8 AS n, max(id) AS last
       FROM ${qualified(stateSchema, 'backfill_changes')} WHERE run_id = $1
      GROUP BY 1, 2, 3, 4 ORDER BY max(id) DESC`,
    [runId],
  );
  if (groups.length === 0) return;
  const catalog = await catalogFor(tx, groups.map((g) => g.table_schema));
  for (const g of groups) {
    const rel = tableOf(catalog, g.table_schema, g.table_name);
    const key = primaryKeyColumns(rel, 'undo');
    const type = columnType(rel, g.column_name);
    const col = `t.${ident(g.column_name)}`;
    const kinds = g.detach ? `kind = 'detach'` : `kind IN ('fill', 'assign-orphan')`;
    const ch = `SELECT key, old_value, new_value FROM ${changes}
                 WHERE run_id = $1 AND table_schema = $2 AND table_name = $3 AND column_name = $4 AND ${kinds}`;
    // What the run wrote is still there: filled → the value written; detached → NULL.
    const unchanged = g.detach ? `${col} IS NULL` : `${col} = (ch.new_value #>> '{}')::${type}`;
    const params = [runId, g.table_schema, g.table_name, g.column_name];
    const changed = await tx.query(
      `WITH ch AS (${ch})
       SELECT ch.key, ch.new_value AS expected, to_jsonb(${col}) AS actual, t IS NULL AS gone
         FROM ch LEFT JOIN ${qualified(g.table_schema, g.table_name)} t ON ${keyMatchesJson('t', key, 'ch.key')}
        WHERE t IS NULL OR NOT (${unchanged})
        LIMIT ${SAMPLE_LIMIT}`,
      params,
    );
    const restore = g.detach ? `(ch.old_value #>> '{}')::${type}` : `NULL::${type}`;
    const table = qualified(g.table_schema, g.table_name);
    const rows: RestoredRows = {
      table: rel,
      sql: `WITH ch AS (${ch})
            SELECT ch.key AS __key, t.ctid AS __ctid, ${rel.columns.map((c) => (c.name === g.column_name ? `${restore} AS ${ident(c.name)}` : `t.${ident(c.name)}`)).join(', ')}
              FROM ch JOIN ${table} t ON ${keyMatchesJson('t', key, 'ch.key')} WHERE ${unchanged}`,
      params,
      changed: [g.column_name],
      ...(g.detach ? {} : { setsNull: [g.column_name] }),
    };
    const upd = await checkedStep(tx, pre, rows, () =>
      tx.query(
        `WITH ch AS (${ch})
         UPDATE ${table} t SET ${ident(g.column_name)} = ${restore}
           FROM ch WHERE ${keyMatchesJson('t', key, 'ch.key')} AND ${unchanged}`,
        params,
      ),
    );
    if (!upd) continue;
    const kind: UndoStepKind = g.detach ? 'detach' : 'fill';
    const restored = upd.rowCount ?? 0;
    result.steps.push({ kind, table: g.table_name, column: g.column_name, recorded: Number(g.n), restored, changedSince: Number(g.n) - restored });
    for (const r of changed.rows) {
      result.changedSince.push({ kind, table: g.table_name, column: g.column_name, key: r.key, expected: r.expected, actual: r.actual, gone: r.gone });
    }
  }
}

async function undoDedupe(tx: pg.ClientBase, stateSchema: string, runId: string, result: UndoResult, pre: Preflight): Promise<void> {
  const archive = qualified(stateSchema, 'dedupe_archive');
  const repoints = qualified(stateSchema, 'dedupe_repoints');
  const { rows: archived } = await tx.query(
    `SELECT table_schema, table_name, count(*)::int8 AS n, min(id) AS first FROM ${archive} WHERE run_id = $1 GROUP BY 1, 2 ORDER BY min(id)`,
    [runId],
  );
  const { rows: moved } = await tx.query(
    `SELECT table_schema, table_name, constraint_name, columns, count(*)::int8 AS n, min(id) AS first
       FROM ${repoints} WHERE run_id = $1 GROUP BY 1, 2, 3, 4 ORDER BY min(id)`,
    [runId],
  );
  if (archived.length + moved.length === 0) return;
  const catalog = await catalogFor(tx, [...archived, ...moved].map((r) => r.table_schema));

  // Rows first: the references pointed back need them.
  for (const a of archived) {
    const rel = tableOf(catalog, a.table_schema, a.table_name);
    const key = primaryKeyColumns(rel, 'undo');
    const cols = rel.columns.filter((c) => !c.generated).map((c) => ident(c.name));
    const table = qualified(a.table_schema, a.table_name);
    const where = `a.run_id = $1 AND a.table_schema = $2 AND a.table_name = $3`;
    const exists = `EXISTS (SELECT 1 FROM ${table} t WHERE ${keyMatchesJson('t', key, 'a.key')})`;
    const taken = await tx.query(`SELECT a.key FROM ${archive} a WHERE ${where} AND ${exists} ORDER BY a.id LIMIT ${SAMPLE_LIMIT}`, [
      runId,
      a.table_schema,
      a.table_name,
    ]);
    const source = `FROM ${archive} a CROSS JOIN LATERAL jsonb_populate_record(NULL::${table}, a.row_data) r WHERE ${where} AND NOT ${exists}`;
    const rows: RestoredRows = {
      table: rel,
      sql: `SELECT a.key AS __key, NULL::tid AS __ctid, ${rel.columns.map((c) => `r.${ident(c.name)}`).join(', ')} ${source}`,
      params: [runId, a.table_schema, a.table_name],
      changed: 'all',
    };
    const ins = await checkedStep(tx, pre, rows, () =>
      tx.query(
        `INSERT INTO ${table} (${cols.join(', ')}) OVERRIDING SYSTEM VALUE
         SELECT ${cols.map((c) => `r.${c}`).join(', ')} ${source}
          ORDER BY a.id`,
        [runId, a.table_schema, a.table_name],
      ),
    );
    if (!ins) continue;
    const restored = ins.rowCount ?? 0;
    result.steps.push({ kind: 'reinsert', table: a.table_name, column: '', recorded: Number(a.n), restored, changedSince: Number(a.n) - restored });
    for (const r of taken.rows) {
      result.changedSince.push({ kind: 'reinsert', table: a.table_name, column: '', key: r.key, expected: null, actual: 'a row with this key exists again', gone: false });
    }
  }
  for (const m of moved) {
    const rel = tableOf(catalog, m.table_schema, m.table_name);
    const key = primaryKeyColumns(rel, 'undo');
    const columns: string[] = m.columns;
    const types = columns.map((c) => columnType(rel, c));
    const table = qualified(m.table_schema, m.table_name);
    const match = `rp.run_id = $1 AND rp.table_schema = $2 AND rp.table_name = $3 AND rp.constraint_name = $4
          AND ${keyMatchesJson('t', key, 'rp.key')}
          AND ${columns.map((c, i) => `t.${ident(c)} = (rp.new_values ->> ${i})::${types[i]}`).join(' AND ')}`;
    const params = [runId, m.table_schema, m.table_name, m.constraint_name];
    const old = (c: string) => `(rp.old_values ->> ${columns.indexOf(c)})::${types[columns.indexOf(c)]}`;
    const rows: RestoredRows = {
      table: rel,
      sql: `SELECT rp.key AS __key, t.ctid AS __ctid, ${rel.columns.map((c) => (columns.includes(c.name) ? `${old(c.name)} AS ${ident(c.name)}` : `t.${ident(c.name)}`)).join(', ')}
              FROM ${repoints} rp JOIN ${table} t ON true WHERE ${match}`,
      params,
      changed: columns,
    };
    const upd = await checkedStep(tx, pre, rows, () =>
      tx.query(`UPDATE ${table} t SET ${columns.map((c) => `${ident(c)} = ${old(c)}`).join(', ')} FROM ${repoints} rp WHERE ${match}`, params),
    );
    if (!upd) continue;
    const restored = upd.rowCount ?? 0;
    result.steps.push({ kind: 'repoint', table: m.table_name, column: columns.join(', '), recorded: Number(m.n), restored, changedSince: Number(m.n) - restored });
  }
}
