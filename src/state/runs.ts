// Runs of state-changing commands (backfill, dedupe, migrate down…), recorded so they can be undone.
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { ident, qualified } from '../db/quote.js';

const errorMessage = (error: unknown): string => (error instanceof Error ? error.message : String(error));

export type RunStatus = 'running' | 'done' | 'failed' | 'undone';

export interface RunRecord {
  id: string;
  command: string;
  status: RunStatus;
  args: Record<string, unknown>;
  summary: Record<string, unknown> | null;
  startedBy: string;
  startedAt: Date;
  finishedAt: Date | null;
  undoneAt: Date | null;
}

/** A run id: the command, a UTC timestamp and a random suffix, e.g. `backfill-20261128T101500-3fa9`. */
export function newRunId(command: string, now: Date = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, '');
  return `${command}-${stamp}-${randomBytes(2).toString('hex')}`;
}

/** Records the start of a run (autocommitted, so it survives a crash of the run itself). */
export async function startRun(
  db: pg.ClientBase,
  stateSchema: string,
  command: string,
  args: Record<string, unknown> = {},
  id: string = newRunId(command),
): Promise<string> {
  await db.query(`INSERT INTO ${ident(stateSchema)}.runs (id, command, args) VALUES ($1, $2, $3)`, [
    id,
    command,
    JSON.stringify(args),
  ]);
  return id;
}

export async function finishRun(
  db: pg.ClientBase,
  stateSchema: string,
  id: string,
  status: Exclude<RunStatus, 'running'>,
  summary: Record<string, unknown> = {},
): Promise<void> {
  await db.query(
    `UPDATE ${ident(stateSchema)}.runs
        SET status = $2, summary = $3,
            finished_at = CASE WHEN $2 = 'undone' THEN finished_at ELSE clock_timestamp() END,
            undone_at = CASE WHEN $2 = 'undone' THEN clock_timestamp() ELSE undone_at END
      WHERE id = $1`,
    [id, status, JSON.stringify(summary)],
  );
}

export async function getRun(db: pg.ClientBase, stateSchema: string, id: string): Promise<RunRecord | undefined> {
  const result = await db.query(`SELECT * FROM ${ident(stateSchema)}.runs WHERE id = $1`, [id]);
  return result.rows[0] ? toRecord(result.rows[0]) : undefined;
}

function toRecord(row: Record<string, any>): RunRecord {
  return {
    id: row.id,
    command: row.command,
    status: row.status,
    args: row.args,
    summary: row.summary,
    startedBy: row.started_by,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    undoneAt: row.undone_at,
  };
}

/** The newest unfinished (`running` or `failed`) run of a command with exactly these args, to resume. */
export async function findResumableRun(
  db: pg.ClientBase,
  stateSchema: string,
  command: string,
  args: Record<string, unknown>,
): Promise<RunRecord | undefined> {
  const { rows } = await db.query(
    `SELECT * FROM ${ident(stateSchema)}.runs
      WHERE command = $1 AND status IN ('running', 'failed') AND args = $2::jsonb
      ORDER BY started_at DESC, id DESC LIMIT 1`,
    [command, JSON.stringify(args)],
  );
  return rows[0] ? toRecord(rows[0]) : undefined;
}

/** Whether the bookkeeping schema has its runs table yet (nothing ran before when it has not). */
export async function runsTableExists(db: pg.ClientBase, stateSchema: string): Promise<boolean> {
  const { rows } = await db.query<{ t: string | null }>(`SELECT to_regclass($1)::text AS t`, [qualified(stateSchema, 'runs')]);
  return rows[0].t !== null;
}

/**
 * Reads a run and locks its record (`FOR UPDATE`) until the end of the caller's transaction, so two
 * sessions cannot both act on it (e.g. undo it twice).
 */
export async function lockRun(tx: pg.ClientBase, stateSchema: string, id: string): Promise<RunRecord | undefined> {
  const { rows } = await tx.query(`SELECT * FROM ${ident(stateSchema)}.runs WHERE id = $1 FOR UPDATE`, [id]);
  return rows[0] ? toRecord(rows[0]) : undefined;
}

/**
 * Marks a run undone inside the undo's own transaction (so the mark and the restore commit or roll back
 * together) and adds `{ undo: undoSummary }` to its summary, keeping what the run itself recorded.
 */
export async function markRunUndone(
  tx: pg.ClientBase,
  stateSchema: string,
  id: string,
  undoSummary: Record<string, unknown>,
): Promise<void> {
  await tx.query(
    `UPDATE ${ident(stateSchema)}.runs SET status = 'undone', undone_at = clock_timestamp(),
            summary = coalesce(summary, '{}'::jsonb) || jsonb_build_object('undo', $2::jsonb)
      WHERE id = $1`,
    [id, JSON.stringify(undoSummary)],
  );
}

/** Marks an interrupted run `running` again (a resume). */
export async function reopenRun(db: pg.ClientBase, stateSchema: string, id: string): Promise<void> {
  await db.query(`UPDATE ${ident(stateSchema)}.runs SET status = 'running', finished_at = NULL WHERE id = $1`, [id]);
}

/** The newest runs of these commands, newest first. */
export async function listRunRecords(
  db: pg.ClientBase,
  stateSchema: string,
  commands: readonly string[],
  limit = 20,
): Promise<RunRecord[]> {
  const { rows } = await db.query(
    `SELECT * FROM ${ident(stateSchema)}.runs WHERE command = ANY ($1::text[]) ORDER BY started_at DESC, id DESC LIMIT $2`,
    [commands, limit],
  );
  return rows.map(toRecord);
}

/** What a run's body reports when it ends normally. */
export interface RunOutcome<T> {
  result: T;
  /** Stored in runs.summary. */
  summary?: Record<string, unknown>;
  /** 'done' unless the body says it failed without throwing. */
  status?: 'done' | 'failed';
}

/**
 * Runs `body` as a recorded run: records its start (or reopens `resume`), then marks it done with the
 * body's summary — or `failed` with the error message when the body throws (and rethrows). A run is
 * never left `running` by an error this process sees; a killed process leaves it `running`, which is
 * what resumable commands look for.
 *
 *   const r = await withRun(client, 'crm_tenancy', 'dedupe', { table: 'contacts' }, async (runId) =>
 *     ({ result: await work(runId), summary: { groups: 3 } }));
 */
export async function withRun<T>(
  db: pg.ClientBase,
  stateSchema: string,
  command: string,
  args: Record<string, unknown>,
  body: (runId: string) => Promise<RunOutcome<T>>,
  options: { resume?: string } = {},
): Promise<T> {
  let runId: string;
  if (options.resume) {
    runId = options.resume;
    await reopenRun(db, stateSchema, runId);
  } else {
    runId = await startRun(db, stateSchema, command, args);
  }
  let outcome: RunOutcome<T>;
  try {
    outcome = await body(runId);
  } catch (error) {
    await finishRun(db, stateSchema, runId, 'failed', { error: errorMessage(error) }).catch(() => {});
    throw error;
  }
  await finishRun(db, stateSchema, runId, outcome.status ?? 'done', outcome.summary ?? {});
  return outcome.result;
}
