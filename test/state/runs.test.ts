// Run bookkeeping (state/runs.ts): recording runs, listing them, marking one undone.
import { describe, expect, it } from 'vitest';
import { ensureStateSchema } from '../../src/state/state-schema.js';
import { finishRun, getRun, listRunRecords, lockRun, markRunUndone, runsTableExists, startRun, withRun } from '../../src/state/runs.js';
import { withRollback, withTransaction } from '../../src/db/transaction.js';
import { useTestDatabase } from '../support/database.js';

describe('run records', () => {
  const db = useTestDatabase();

  it('records runs', async () => {
    const schema = 'crm_tenancy';
    await ensureStateSchema(db().client, schema);
    const id = await startRun(db().client, schema, 'backfill', { table: 'deals' });
    expect(id).toMatch(/^backfill-\d{8}T\d{6}-[0-9a-f]{4}$/);
    expect(await getRun(db().client, schema, id)).toMatchObject({ status: 'running', args: { table: 'deals' } });
    await finishRun(db().client, schema, id, 'done', { filled: 3 });
    expect(await getRun(db().client, schema, id)).toMatchObject({ status: 'done', summary: { filled: 3 } });
  });

  it('knows whether the runs table exists yet (a new database has none)', async () => {
    const schema = 'runs "fresh"';
    expect(await runsTableExists(db().client, schema)).toBe(false);
    await ensureStateSchema(db().client, schema);
    expect(await runsTableExists(db().client, schema)).toBe(true);
  });

  it('lists the newest runs of the commands asked for, newest first', async () => {
    const schema = 'runs_list';
    await ensureStateSchema(db().client, schema);
    const a = await startRun(db().client, schema, 'backfill');
    const b = await startRun(db().client, schema, 'migrate');
    const c = await startRun(db().client, schema, 'dedupe');
    expect((await listRunRecords(db().client, schema, ['backfill', 'dedupe'])).map((r) => r.id)).toEqual([c, a]);
    expect((await listRunRecords(db().client, schema, ['backfill', 'dedupe'], 1)).map((r) => r.id)).toEqual([c]);
    expect((await listRunRecords(db().client, schema, ['migrate'])).map((r) => r.id)).toEqual([b]);
  });

  it('withRun records done with the summary, or failed with the error (and rethrows)', async () => {
    const schema = 'runs_with';
    await ensureStateSchema(db().client, schema);
    let seen = '';
    const value = await withRun(db().client, schema, 'dedupe', { table: 't' }, async (runId) => {
      seen = runId;
      return { result: 42, summary: { groups: 1 } };
    });
    expect(value).toBe(42);
    expect(await getRun(db().client, schema, seen)).toMatchObject({ command: 'dedupe', status: 'done', args: { table: 't' }, summary: { groups: 1 } });
    await expect(
      withRun(db().client, schema, 'dedupe', {}, async (runId) => {
        seen = runId;
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await getRun(db().client, schema, seen)).toMatchObject({ status: 'failed', summary: { error: 'boom' } });
  });

  it('markRunUndone keeps the run summary and adds the undo; it commits or rolls back with the transaction', async () => {
    const schema = 'runs_undo';
    await ensureStateSchema(db().client, schema);
    const id = await startRun(db().client, schema, 'dedupe');
    await finishRun(db().client, schema, id, 'done', { removed: 2 });
    await withRollback(db().client, (tx) => markRunUndone(tx, schema, id, { restored: 2 }));
    expect(await getRun(db().client, schema, id)).toMatchObject({ status: 'done', undoneAt: null, summary: { removed: 2 } });
    await withTransaction(db().client, (tx) => markRunUndone(tx, schema, id, { restored: 2 }));
    const run = await getRun(db().client, schema, id);
    expect(run).toMatchObject({ status: 'undone', summary: { removed: 2, undo: { restored: 2 } } });
    expect(run!.undoneAt).toBeInstanceOf(Date);
    expect(run!.finishedAt).toBeInstanceOf(Date);
  });

  it('lockRun holds the record until the transaction ends: a second session waits (lock_timeout), then reads it', async () => {
    const schema = 'runs_lock';
    await ensureStateSchema(db().client, schema);
    const id = await startRun(db().client, schema, 'backfill');
    const other = await db().connect();
    expect(await lockRun(db().client, schema, 'backfill-19700101T000000-beef')).toBeUndefined();
    await withTransaction(db().client, async (tx) => {
      expect(await lockRun(tx, schema, id)).toMatchObject({ id, status: 'running' });
      await expect(withTransaction(other, (t2) => lockRun(t2, schema, id), { lockTimeoutMs: 50 })).rejects.toMatchObject({ code: '55P03' });
    });
    expect(await withTransaction(other, (t2) => lockRun(t2, schema, id), { lockTimeoutMs: 50 })).toMatchObject({ id });
  });
});
