// The bookkeeping schema: created by its own migrations, once, without races between first runs.
import { describe, expect, it } from 'vitest';
import { ensureStateSchema, listStateMigrations } from '../../src/state/state-schema.js';
import { useTestDatabase } from '../support/database.js';

describe('the bookkeeping schema', () => {
  const db = useTestDatabase();

  it('is created by its own migrations, once, under a configurable name', async () => {
    const schema = 'crm tenancy "state"';
    const applied = await ensureStateSchema(db().client, schema);
    expect(applied).toEqual((await listStateMigrations()).map((m) => m.id));
    expect(await ensureStateSchema(db().client, schema)).toEqual([]);
    // Concurrent first runs do not race (advisory lock).
    const other = 'crm_tenancy_2';
    const c2 = await db().connect();
    const results = await Promise.all([ensureStateSchema(db().client, other), ensureStateSchema(c2, other)]);
    expect(results.flat().sort()).toEqual(applied.sort());
  });

  it('concurrent first runs on two connections both succeed, 20 times over (no CREATE SCHEMA collision)', async () => {
    // A session that looked the schema up while another was creating it can keep a stale catalog
    // cache entry past the advisory lock; before the retry this failed about one run in three.
    const expected = (await listStateMigrations()).map((m) => m.id).sort();
    const c2 = await db().connect();
    for (let i = 0; i < 20; i++) {
      const schema = `crm_tenancy_race_${i}`;
      const results = await Promise.all([ensureStateSchema(db().client, schema), ensureStateSchema(c2, schema)]);
      expect(results.flat().sort()).toEqual(expected);
    }
  });
});
