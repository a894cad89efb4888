// `crm-tenancy demo --sample saas`'s story on this run's server: the SaaS fixture from the first audit
// to a clean one, with the person's fixes as one visible step, every other step the real command.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseManifestText } from '../../src/config/manifest.js';
import { runStory } from '../../src/demo/story.js';
import { saasManifestText, SAAS_HAND_FIXES } from '../../src/sample/sample-saas.js';
import { serverLabel, useTestDatabase } from '../support/database.js';

describe(`the rollout story on the SaaS sample (${serverLabel()})`, () => {
  const db = useTestDatabase();
  let workDir: string;
  afterAll(async () => {
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  it('refuses what it cannot decide, then ends isolated: verify passes, the audit finds no error', async () => {
    workDir = await mkdtemp(path.join(os.tmpdir(), 'crmt-story-saas-'));
    const app = await db().createRole('saas_app');
    const manifest = parseManifestText(await saasManifestText({ appRole: app }));
    const result = await runStory({ databaseUrl: db().url, workDir, manifest, sample: 'saas' });
    const exit = Object.fromEntries(result.steps.map((s) => [s.name, s.exitCode]));
    expect(exit).toEqual({
      'load the SaaS sample': 0,
      'look at it': 0,
      audit: 1,
      generate: 0,
      'migrate up (first try)': 1,
      'backfill --detach-cross-tenant': 1, // the log line of nobody: an orphan, reported
      dedupe: 1, // two different invoices sharing a number: a conflict, never merged
      'fix by hand what only a person can decide': 0,
      'migrate up': 0,
      'policies apply': 0,
      verify: 0,
      'audit (after)': 0,
    });
    expect(result.steps.find((s) => s.name === 'fix by hand what only a person can decide')?.details).toEqual(SAAS_HAND_FIXES.map((f) => f.why));
    expect(result.summary.findingsAfter.error).toBe(0);
    expect(result.summary.probesFailed).toBe(0);
    expect(result.summary.nullTenantsAfter).toBe(7); // the shared rows: 4 predefined roles, 3 default templates
  }, 300_000);
});
