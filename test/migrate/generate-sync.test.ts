// generate stays true to the manifest: pending generated files are rewritten (or removed), run files are
// never touched, hand-edited pending files are kept with a warning; `generate --check` exits 1 / 0.
import { appendFile, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { repoRoot, runCli } from '../support/cli.js';
import { useTestDatabase } from '../support/database.js';
import { useTempDirs } from './support.js';

const USERS_UNIQUE = 'CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS "users_company_id_email_key"';

describe('generate keeps pending files in sync with the manifest', () => {
  const db = useTestDatabase({ sample: true });
  const tempDir = useTempDirs();

  it('rewrites the pending validate file when a unique key leaves the manifest, never touches run files, keeps edited ones; --check says so', async () => {
    const dir = await tempDir();
    const config = path.join(dir, 'tenancy.yaml');
    const manifest = parse(await readFile(path.join(repoRoot, 'tenancy.yaml'), 'utf8'));
    await writeFile(config, stringify(manifest));
    const migrations = path.join(dir, 'migrations');
    const policies = path.join(dir, 'policies');
    const common = ['--config', config, '--database-url', db().url];
    const generate = (...extra: string[]) => runCli(['generate', ...common, '--migrations-dir', migrations, '--policies-dir', policies, ...extra]);
    const read = async () =>
      Object.fromEntries(await Promise.all((await readdir(migrations)).sort().map(async (n) => [n, await readFile(path.join(migrations, n), 'utf8')] as const)));

    expect((await generate()).code).toBe(0);
    expect((await generate('--check')).code).toBe(0);
    // expand and index run; validate is refused (NULL tenants) and stays pending, with composite.
    const first = await runCli(['migrate', ...common, '--migrations-dir', migrations]);
    expect(first.code).toBe(1);
    const before = await read();
    // The composite phase is one file per referenced table: 0004 is the first of them.
    expect(Object.keys(before).slice(0, 4)).toEqual(['0001_tenancy-expand.sql', '0002_tenancy-index.sql', '0003_tenancy-validate.sql', '0004_tenancy-composite.sql']);
    expect(Object.keys(before).slice(4).every((n) => /^\d{4}_tenancy-composite\.sql$/.test(n))).toBe(true);
    expect(before['0003_tenancy-validate.sql']).toContain(USERS_UNIQUE);
    expect(before['0003_tenancy-validate.sql']).toMatch(/^-- crm-tenancy-checksum: sha256:[0-9a-f]{64} /m);

    // The manifest loses the users unique key: --check exits 1 and writes nothing…
    delete manifest.tables.users.unique;
    await writeFile(config, stringify(manifest));
    const check = await generate('--check');
    expect(check.code, check.stderr).toBe(1);
    expect(check.stderr).toContain(`would rewrite ${path.join(migrations, '0003_tenancy-validate.sql')}`);
    expect(await read()).toEqual(before);
    // …generate rewrites the pending validate file without the index and leaves the run files alone.
    const sync = await generate();
    expect(sync.code, sync.stderr).toBe(0);
    expect(sync.stderr).toContain(`rewrote ${path.join(migrations, '0003_tenancy-validate.sql')}`);
    const after = await read();
    expect(after['0003_tenancy-validate.sql']).not.toContain('users_company_id_email_key');
    expect(after['0003_tenancy-validate.sql']).toContain('not-null:users');
    expect(after['0001_tenancy-expand.sql']).toBe(before['0001_tenancy-expand.sql']);
    expect(after['0002_tenancy-index.sql']).toBe(before['0002_tenancy-index.sql']);
    expect(after['0004_tenancy-composite.sql']).toBe(before['0004_tenancy-composite.sql']);
    expect((await generate('--check')).code).toBe(0);

    // A pending file edited by hand is kept, named in a warning; the other pending file still follows the manifest.
    await appendFile(path.join(migrations, '0004_tenancy-composite.sql'), '\n-- reviewed by the DBA: run on Sunday\n');
    const edited = await readFile(path.join(migrations, '0004_tenancy-composite.sql'), 'utf8');
    manifest.tables.users.unique = [['email']];
    await writeFile(config, stringify(manifest));
    const kept = await generate('--json');
    expect(kept.code).toBe(0);
    const result = JSON.parse(kept.stdout);
    expect(result.edited).toEqual([path.resolve(migrations, '0004_tenancy-composite.sql')]);
    expect(result.files.map((f: { name: string; status: string }) => [f.name, f.status])).toEqual([['0003_tenancy-validate', 'rewritten']]);
    const last = await read();
    expect(last['0004_tenancy-composite.sql']).toBe(edited);
    expect(last['0003_tenancy-validate.sql']).toContain(USERS_UNIQUE);
    expect(last['0001_tenancy-expand.sql']).toBe(before['0001_tenancy-expand.sql']);
    const warned = await generate();
    expect(warned.stderr).toContain(`${path.resolve(migrations, '0004_tenancy-composite.sql')}: not yet run and edited by hand`);
    expect((await generate('--check')).code).toBe(0);
  });

  it('removes a pending generated file nothing of which is needed any more, and --check reports it', async () => {
    const dir = await tempDir();
    const config = path.join(dir, 'tenancy.yaml');
    const manifest = parse(await readFile(path.join(repoRoot, 'tenancy.yaml'), 'utf8'));
    await writeFile(config, stringify(manifest));
    const migrations = path.join(dir, 'migrations');
    const common = ['--config', config, '--database-url', db().url, '--migrations-dir', migrations, '--policies-dir', path.join(dir, 'policies')];
    expect((await runCli(['generate', ...common])).code).toBe(0);
    // (the first test ran expand and index on this database: only validate and composite are left)
    const initial = (await readdir(migrations)).sort();
    expect(initial[0]).toBe('0001_tenancy-validate.sql');
    expect(initial.slice(1).every((n) => /^\d{4}_tenancy-composite\.sql$/.test(n))).toBe(true);
    expect(initial.length).toBeGreaterThan(2);
    manifest.tenant.composite_keys = false;
    await writeFile(config, stringify(manifest));
    const check = await runCli(['generate', ...common, '--check']);
    expect(check.code).toBe(1);
    expect(check.stderr).toContain(`would remove ${path.resolve(migrations, '0002_tenancy-composite.sql')}`);
    expect((await readdir(migrations)).sort()).toEqual(initial);
    expect((await runCli(['generate', ...common])).code).toBe(0);
    expect((await readdir(migrations)).sort()).toEqual(['0001_tenancy-validate.sql']);
    expect((await runCli(['generate', ...common, '--check'])).code).toBe(0);
  });

  it('rewrites a pending file when the database changed under it (a step done by hand), and leaves it when not', async () => {
    const dir = await tempDir();
    const common = ['--config', path.join(repoRoot, 'tenancy.yaml'), '--database-url', db().url, '--migrations-dir', path.join(dir, 'm'), '--policies-dir', path.join(dir, 'p')];
    expect((await runCli(['generate', ...common])).code).toBe(0);
    const validate = path.join(dir, 'm', '0001_tenancy-validate.sql');
    const before = await readFile(validate, 'utf8');
    expect(before).toContain('"not-null:pipelines"');
    expect((await runCli(['generate', ...common, '--check'])).code).toBe(0);
    // The DBA sets pipelines.company_id NOT NULL by hand: the pending file no longer needs that step.
    await db().client.query(`ALTER TABLE public.pipelines ALTER company_id SET NOT NULL`);
    expect((await runCli(['generate', ...common, '--check'])).code).toBe(1);
    expect((await runCli(['generate', ...common])).code).toBe(0);
    const after = await readFile(validate, 'utf8');
    expect(after).not.toContain('"not-null:pipelines"');
    expect(after).toContain('"not-null:users"');
    expect((await runCli(['generate', ...common, '--check'])).code).toBe(0);
  });
});
