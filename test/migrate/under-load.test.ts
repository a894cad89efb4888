// The whole migrate on a ~200k-row table while writers insert and update: no failed writes, no lost rows.
import { describe, expect, it } from 'vitest';
import { generateMigrations } from '../../src/migrate/generate.js';
import { runMigrate } from '../../src/migrate/runner.js';
import { migrationStatus } from '../../src/migrate/status.js';
import { createLoadSchema, loadManifestFor, startWriters } from '../../bench/lib/migrate-load.js';
import { useTestDatabase } from '../support/database.js';
import { useTempDirs } from './support.js';

const ROWS = 200_000;

describe('migrate under write load', () => {
  const db = useTestDatabase();
  const tempDir = useTempDirs();

  it('runs all four phases while 4 connections write: zero failed writer transactions, zero lost rows', async () => {
    const c = db().client;
    await createLoadSchema(c, 'load', ROWS);
    const manifest = loadManifestFor('load', 'load_state');
    const dir = await tempDir();
    const g = await generateMigrations({ client: c, manifest, migrationsDir: dir, policiesDir: await tempDir() });
    expect([...new Set(g.files.map((f) => f.phase))]).toEqual(['expand', 'index', 'validate', 'composite']);

    const writers = await startWriters({ url: db().url, schema: 'load', rows: ROWS, connections: 4, timeoutMs: 10_000 });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const run = runMigrate({ databaseUrl: db().url, manifest, migrationsDir: dir, direction: 'up', lockTimeoutMs: 500 });
    const settled = await run.then(
      (value) => ({ value }),
      (error: unknown) => ({ error }),
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    const stats = await writers.stop();
    if ('error' in settled) throw settled.error;
    const result = settled.value;
    expect(result.exitCode).toBe(0);
    expect(result.applied).toHaveLength(g.files.length);
    expect(stats.errors).toEqual([]);
    expect(stats.failed).toBe(0);
    expect(stats.ops).toBeGreaterThan(100);
    const counts = await c.query(`SELECT (SELECT count(*)::int FROM load.accounts) AS accounts, (SELECT count(*)::int FROM load.entries) AS entries`);
    expect(counts.rows[0]).toEqual({ accounts: ROWS + stats.insertedAccounts, entries: ROWS / 10 + stats.insertedEntries });
    const status = await migrationStatus({ client: c, manifest, migrationsDir: dir });
    expect(status.schemaComplete).toBe(true);
  });
});
