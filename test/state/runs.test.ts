// Run bookkeeping (state/runs.ts): recording runs, listing them, marking one undone.
import { describe, expect, it } from 'vitest';
import { ensureStateSchema } from '../../src/state/state-schema.js';
import { finishRun, getRun, startRun } from '../../src/state/runs.js';
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
});
