// Runs of state-changing commands (backfill, dedupe, migrate down…), recorded so they can be undone.
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { ident } from '../db/quote.js';

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
  const row = result.rows[0];
  if (!row) return undefined;
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
