// backfill checks the server's health before each batch (GitLab-style pauses), on every --jobs
// connection: a planted unhealthy signal pauses it (logged, recorded in the result and JSON), or
// stops it before its first batch when the server never recovers; a healthy server never pauses it.
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/config/manifest.js';
import { runBackfill } from '../../src/backfill/backfill-runner.js';
import { connect } from '../../src/db/connection.js';
import { readServerHealth } from '../../src/db/server-health.js';
import { memoryLogger } from '../../src/logger.js';
import { loadSampleCrm } from '../../src/sample/sample-crm.js';
import { runCli } from '../support/cli.js';
import { useTestDatabase } from '../support/database.js';
import { addMissingTenantColumns, sampleManifest, sampleManifestText, tableChecksums, writeConfig } from './helpers.js';

describe('backfill and server health', () => {
  const db = useTestDatabase();
  const manifests: Record<string, Manifest> = {};
  let own: pg.Client;

  beforeAll(async () => {
    for (const schema of ['crm', 'crm2', 'crm3']) {
      await loadSampleCrm(db().client, { schema });
      await addMissingTenantColumns(db().client, schema);
      manifests[schema] = await sampleManifest(schema, `${schema}_state`);
    }
    own = await connect({ databaseUrl: db().url });
  });
  afterAll(async () => {
    await own?.end();
  });

  it('a server that stays unhealthy (lag threshold below 0 s) stops it before the first batch, also with --jobs 2: nothing filled', async () => {
    const before = await tableChecksums(db().client, 'crm');
    const logger = memoryLogger();
    await expect(
      runBackfill({ databaseUrl: db().url, manifest: manifests.crm, jobs: 2, logger, health: { maxReplicationLagSeconds: -1, pauseMs: 10, maxWaitMs: 0 } }),
    ).rejects.toThrow(/stayed unhealthy .*replication lag 0\.0 s > -1 s/);
    expect(await tableChecksums(db().client, 'crm')).toEqual(before);
  });

  it('a requested checkpoint (real, planted by CHECKPOINT) pauses it: logged, counted in healthPauses, then it fills everything', async () => {
    const before = await tableChecksums(db().client, 'crm2');
    // The checkpoint signal is the growth since the connection's previous read: read once, then CHECKPOINT.
    await readServerHealth(own, { schema: 'crm2', table: 'users' });
    await own.query('CHECKPOINT');
    const logger = memoryLogger();
    const result = await runBackfill({
      client: own,
      databaseUrl: db().url,
      manifest: manifests.crm2,
      jobs: 2,
      logger,
      health: { maxRequestedCheckpoints: 0, pauseMs: 10 },
    });
    expect(result.healthPauses.pauses).toBeGreaterThanOrEqual(1);
    expect(result.healthPauses.waits[0].reasons.join(' ')).toMatch(/checkpoint\(s\) requested since the last check/);
    expect(logger.lines.some((l) => l.level === 'warn' && /: pausing 0\.0 s: \d+ checkpoint\(s\) requested/.test(l.message))).toBe(true);
    expect(logger.lines.some((l) => /server healthy again, resuming/.test(l.message))).toBe(true);
    const run = await db().client.query(`SELECT summary FROM crm2_state.runs WHERE id = $1`, [result.runId]);
    expect(run.rows[0].summary.healthPauses.pauses).toBe(result.healthPauses.pauses);
    expect(result.tables.reduce((n, t) => n + t.filled, 0)).toBeGreaterThan(0);
    expect(await tableChecksums(db().client, 'crm2')).not.toEqual(before);
  });

  it('a healthy server never pauses it (CLI, --jobs 2, thresholds as options; JSON healthPauses 0); a bad threshold is exit 2', async () => {
    const config = await writeConfig(await sampleManifestText('crm3', 'crm3_state'));
    const bad = await runCli(['backfill', '--max-autovacuum', 'soon', '--config', config, '--database-url', db().url]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--max-autovacuum/);
    const res = await runCli(['backfill', '--jobs', '2', '--max-replication-lag', '30', '--max-autovacuum', '120', '--health-pause', '50', '--json', '--config', config, '--database-url', db().url]);
    expect([0, 1]).toContain(res.code);
    const result = JSON.parse(res.stdout);
    expect(result.healthPauses).toEqual({ pauses: 0, pausedMs: 0, waits: [] });
    expect(result.tables.reduce((n: number, t: { filled: number }) => n + t.filled, 0)).toBeGreaterThan(0);
    expect(res.stderr).not.toMatch(/pausing/);
    const help = await runCli(['backfill', '--help']);
    expect(help.stdout).toMatch(/--max-replication-lag <s>[\s\S]*--max-autovacuum <s>[\s\S]*--max-requested-checkpoints <n>[\s\S]*--no-health-pauses/);
  });
});
