// distribution: citus on the realistic SaaS fixture (uuid tenant key, shared rows, polymorphic pairs,
// a partitioned event table): audit --target citus names what blocks distributing it, generate
// --target citus writes the distribute phase and the Citus form of the policies.
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadSampleSaas, saasManifestText } from '../../src/sample/sample-saas.js';
import { runCli } from '../support/cli.js';
import { useTestDatabase } from '../support/database.js';

describe('--target citus on the SaaS fixture', () => {
  const db = useTestDatabase();
  let dir: string;
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('audit names the shared-rows tables as blockers; generate writes the distribute phase last and policies without a subquery', async () => {
    await loadSampleSaas(db().client, { modules: 4 });
    dir = await mkdtemp(path.join(os.tmpdir(), 'crmt-citus-saas-'));
    const config = path.join(dir, 'tenancy.yaml');
    await writeFile(config, await saasManifestText({ modules: 4 }), 'utf8');
    const base = ['--database-url', db().url, '--config', config];

    const plain = await runCli(['audit', ...base, '--format', 'json', '--fail-on', 'never']);
    expect(plain.code).toBe(0);
    expect(JSON.parse(plain.stdout).findings.some((f: { check: string }) => f.check.startsWith('citus-'))).toBe(false);
    const audit = await runCli(['audit', ...base, '--target', 'citus', '--format', 'json', '--fail-on', 'never']);
    expect(audit.code).toBe(0);
    const findings: { check: string; table: string | null }[] = JSON.parse(audit.stdout).findings;
    // Citus refuses NULL in the distribution column: the two shared_rows tables of the manifest.
    expect(findings.filter((f) => f.check === 'citus-shared-rows-table').map((f) => f.table).sort()).toEqual([
      'public.notification_templates',
      'public.roles',
    ]);

    const migrations = path.join(dir, 'migrations');
    const policies = path.join(dir, 'policies');
    const g = await runCli(['generate', ...base, '--migrations-dir', migrations, '--policies-dir', policies, '--target', 'citus']);
    expect(g.code).toBe(0);
    const files = (await readdir(migrations)).sort();
    expect(files[files.length - 1]).toMatch(/_tenancy-distribute\.sql$/);
    const distribute = await readFile(path.join(migrations, files[files.length - 1]), 'utf8');
    expect(distribute).toContain(`create_distributed_table('"public"."organizations"', 'id')`);
    expect(distribute).toMatch(/create_distributed_table\('"public"\."memberships"', 'organization_id', colocate_with => /);
    for (const file of await readdir(policies)) expect(await readFile(path.join(policies, file), 'utf8')).not.toContain('(SELECT nullif');
  });
});
