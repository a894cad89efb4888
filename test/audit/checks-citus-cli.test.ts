// audit --target / generate --target from the command line: the Citus checks and the distribute phase on request, bad values refused (exit 2).
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { useTestDatabase } from '../support/database.js';
import { fixture } from './check-helpers.js';

describe('--target citus on the command line', () => {
  const db = useTestDatabase();
  let dir: string;
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('audit runs the Citus checks only with --target citus; generate writes the distribute phase only with it', async () => {
    const fx = await fixture(db().client, (p, a) => db().createRole(p, a), { tables: ['notes'], bare: true });
    await db().client.query(`ALTER TABLE ${fx.q('notes')} DROP CONSTRAINT notes_pkey, ADD PRIMARY KEY (id)`);
    dir = await mkdtemp(path.join(os.tmpdir(), 'crmt-citus-cli-'));
    const config = path.join(dir, 'tenancy.yaml');
    await writeFile(config, `schema: ${fx.schema}\nstate_schema: ${fx.schema}_state\ntenant: {table: tenants, key: id, column: tenant_id, setting: app.tenant_id}\nroles: {app: [${fx.app}]}\ntables: {notes: null}\n`);
    const base = ['--database-url', db().url, '--config', config];
    const plain = await runCli(['audit', ...base, '--format', 'json', '--fail-on', 'never']);
    expect(plain.code).toBe(0);
    expect(JSON.parse(plain.stdout).findings.some((f: { check: string }) => f.check.startsWith('citus-'))).toBe(false);
    const citus = await runCli(['audit', ...base, '--target', 'citus', '--only', 'citus-key-without-tenant', '--format', 'json']);
    expect(citus.code).toBe(1);
    expect(JSON.parse(citus.stdout).findings.map((f: { object: string }) => f.object)).toEqual(['notes_pkey']);
    const bad = await runCli(['audit', ...base, '--target', 'vitess']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--target must be one of citus');
    const notTargeted = await runCli(['audit', ...base, '--only', 'citus-key-without-tenant']);
    expect(notTargeted.code).toBe(2);
    expect(notTargeted.stderr).toContain('runs only with --target citus');

    const migrations = path.join(dir, 'migrations');
    const g = await runCli(['generate', ...base, '--migrations-dir', migrations, '--policies-dir', path.join(dir, 'policies'), '--target', 'citus']);
    expect(g.code).toBe(0);
    const files = (await readdir(migrations)).sort();
    expect(files[files.length - 1]).toMatch(/_tenancy-distribute\.sql$/);
    const text = await readFile(path.join(migrations, files[files.length - 1]), 'utf8');
    expect(text).toContain(`PERFORM create_distributed_table('"${fx.schema}"."tenants"', 'id');`);
    expect(text).toContain(`ADD CONSTRAINT "notes_tenant_id_id_pkey" PRIMARY KEY USING INDEX "notes_tenant_id_id_pkey"`);
    expect(await readFile(path.join(dir, 'policies', 'notes.sql'), 'utf8')).not.toContain('(SELECT nullif');
    const badGenerate = await runCli(['generate', ...base, '--migrations-dir', migrations, '--target', 'vitess']);
    expect(badGenerate.code).toBe(2);
  });
});
