// dedupe checks the server's health before each group (GitLab-style pauses): thresholds that the
// server cannot meet stop it before its first change; thresholds it meets let it run.
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadManifest } from '../../src/config/manifest.js';
import { runDedupe } from '../../src/dedupe/dedupe-runner.js';
import { memoryLogger } from '../../src/logger.js';
import { tableChecksums } from '../backfill/helpers.js';
import { useTestDatabase } from '../support/database.js';

describe('dedupe and server health', () => {
  const db = useTestDatabase({ sample: true });

  it('an unhealthy server (a lag threshold below 0 s) stops it before the first group; a healthy one lets it resolve', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'crmt-dedupe-health-'));
    await writeFile(path.join(dir, 'tenancy.yaml'), await readFile('tenancy.yaml', 'utf8'));
    const manifest = await loadManifest(path.join(dir, 'tenancy.yaml'));
    const before = await tableChecksums(db().client, 'public');
    const logger = memoryLogger();
    await expect(
      runDedupe({
        databaseUrl: db().url,
        manifest,
        table: 'twilio_settings',
        logger,
        health: { maxReplicationLagSeconds: -1, pauseMs: 10, maxWaitMs: 0 },
      }),
    ).rejects.toThrow(/stayed unhealthy .*replication lag 0\.0 s > -1 s/);
    expect(await tableChecksums(db().client, 'public')).toEqual(before);
    const done = await runDedupe({ databaseUrl: db().url, manifest, table: 'twilio_settings', health: {} });
    expect(done.groups.filter((g) => g.status === 'resolved')).toHaveLength(1);
  });
});
