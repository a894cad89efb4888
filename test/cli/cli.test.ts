import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { useTestDatabase } from '../support/database.js';
import { freePort } from '../../src/embedded/embedded-server.js';

describe('crm-tenancy CLI conventions', () => {
  const db = useTestDatabase({ sample: true });

  it('--version and --help exit 0; help shows exit codes and examples', async () => {
    const version = await runCli(['--version']);
    expect(version.code).toBe(0);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Exit codes: 0 success');
    expect(help.stdout).toContain('Examples:');
    const initHelp = await runCli(['init', '--help']);
    expect(initHelp.stdout).toContain('--tenant-table');
  });

  it('usage errors exit 2 with one clear line', async () => {
    const r = await runCli(['no-such-command']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: unknown command 'no-such-command'/m);
    const opt = await runCli(['init', '--no-such-option']);
    expect(opt.code).toBe(2);
    expect(opt.stderr).toMatch(/unknown option '--no-such-option'/);
  });

  it('an unreachable database exits 2, names the target and never prints the password', async () => {
    const port = await freePort();
    const url = `postgres://alice:s3cr3t-pw@127.0.0.1:${port}/nowhere`;
    const r = await runCli(['init', '--stdout', '--database-url', url]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`cannot connect to postgres://alice:***@127.0.0.1:${port}/nowhere`);
    expect(r.stderr).toContain('ECONNREFUSED');
    expect(r.stderr).toMatch(/^hint: /m);
    expect(r.stderr + r.stdout).not.toContain('s3cr3t-pw');
    // Also from DATABASE_URL, and with --verbose (stack traces must not leak it either).
    const env = await runCli(['init', '--stdout', '--verbose'], { env: { DATABASE_URL: url } });
    expect(env.code).toBe(2);
    expect(env.stderr + env.stdout).not.toContain('s3cr3t-pw');
  });

  it('falls back to the PG* variables when no URL is given', async () => {
    const u = new URL(db().url);
    const r = await runCli(['init', '--stdout'], {
      env: { PGHOST: u.hostname, PGPORT: u.port || '5432', PGUSER: decodeURIComponent(u.username), PGPASSWORD: decodeURIComponent(u.password), PGDATABASE: db().name },
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('table: companies');
  });

  it('a missing or broken manifest exits 2 listing every problem', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'crmt-cli-'));
    const file = path.join(dir, 'tenancy.yaml');
    await writeFile(file, 'tenant: {table: companies, key: id, column: company_id, setting: nodot, extra: 1}\nroles: {app: []}\ntables: {}\n');
    const { loadManifest } = await import('../../src/config/manifest.js');
    await expect(loadManifest(file)).rejects.toMatchObject({ exitCode: 2 });
    await expect(loadManifest(file).catch((e) => e.problems)).resolves.toEqual(
      expect.arrayContaining([
        'tenant.extra: unknown key',
        expect.stringMatching(/^tenant\.setting:/),
        'roles.app: list at least one application role',
        expect.stringMatching(/^tables: no scoped tables/),
      ]),
    );
  });

  it('init writes tenancy.yaml, and never overwrites it without --force', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'crmt-init-'));
    const first = await runCli(['init', '--database-url', db().url], { cwd: dir });
    expect(first.code).toBe(0);
    expect(first.stderr).toMatch(/wrote tenancy\.yaml: tenant companies\.id \(integer\) via company_id, 28 scoped, 6 exempt/);
    const text = await readFile(path.join(dir, 'tenancy.yaml'), 'utf8');
    expect(text).toContain('users:');
    const second = await runCli(['init', '--database-url', db().url], { cwd: dir });
    expect(second.code).toBe(2);
    expect(second.stderr).toMatch(/tenancy\.yaml already exists/);
    expect(second.stderr).toMatch(/--force/);
    const forced = await runCli(['init', '--force', '--database-url', db().url], { cwd: dir });
    expect(forced.code).toBe(0);
  });

  it('colour only when asked for: NO_COLOR output has no escape codes', async () => {
    const r = await runCli(['no-such-command'], { env: { NO_COLOR: '1' } });
    expect(r.stderr).not.toMatch(/\u001b\[/);
    const forced = await runCli(['no-such-command'], { env: { NO_COLOR: '', FORCE_COLOR: '1' } });
    expect(forced.stderr).toMatch(/\u001b\[/);
  });
});
