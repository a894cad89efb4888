import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot, runCli } from '../support/cli.js';
import { useTestDatabase, withDatabase } from '../support/database.js';
import { freePort } from '../../src/embedded/embedded-server.js';
import { buildProgram } from '../../src/cli/index.js';
import { createOutput } from '../../src/cli/output.js';
import { createProgress, withProgress } from '../../src/cli/progress.js';
import { commaList, duration, knownNames, oneOf, pair, positiveInt, wholeNumber } from '../../src/cli/option-parsers.js';
import { suggest } from '../../src/cli/did-you-mean.js';
import { recorder, timers } from '../support/recorder.js';

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
    const r = await runCli(['init', '--stdout', '--database-url', url], { keepPassword: true });
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

describe('crm-tenancy CLI messages', () => {
  const db = useTestDatabase({ sample: true });

  it('bare crm-tenancy (and bare crm-tenancy policies) print the help on stdout, exit 0', async () => {
    const bare = await runCli([]);
    expect(bare.code).toBe(0);
    expect(bare.stdout).toMatch(/^Usage: crm-tenancy \[options\] \[command\]/);
    expect(bare.stdout).toContain('Exit codes: 0 success');
    expect(bare.stderr).toBe('');
    const policies = await runCli(['policies']);
    expect(policies.code).toBe(0);
    expect(policies.stdout).toMatch(/^Usage: crm-tenancy policies/);
    expect(policies.stderr).toBe('');
  });

  it('every command\'s help lists the global options', async () => {
    const program = buildProgram();
    const commands = program.commands.flatMap((c) => (c.commands.length ? [c, ...c.commands] : [c]));
    expect(commands.length).toBeGreaterThanOrEqual(14);
    for (const command of commands) {
      expect(command.helpInformation(), command.name()).toMatch(/Global Options:[\s\S]*--database-url <url>[\s\S]*--config <file>[\s\S]*--verbose/);
    }
    // And as users see it.
    const help = await runCli(['policies', 'apply', '--help']);
    expect(help.stdout).toMatch(/Global Options:[\s\S]*--database-url <url>/);
  });

  it('did you mean: commands, options and check ids', async () => {
    const command = await runCli(['audti']);
    expect([command.code, command.stderr]).toEqual([2, expect.stringMatching(/unknown command 'audti'[\s\S]*Did you mean audit\?/)]);
    const option = await runCli(['audit', '--fromat', 'json']);
    expect([option.code, option.stderr]).toEqual([2, expect.stringMatching(/unknown option '--fromat'[\s\S]*Did you mean --format\?/)]);
    const check = await runCli(['audit', '--only', 'nul-tenant,rls-disabled', '--skip', 'rls-not-forcd', '--database-url', db().url]);
    expect(check.code).toBe(2);
    expect(check.stderr).toMatch(/--only: unknown check id: nul-tenant \(did you mean null-tenant\?\)/);
    const skip = await runCli(['audit', '--skip', 'rls-not-forcd', '--database-url', db().url]);
    expect(skip.stderr).toMatch(/--skip: unknown check id: rls-not-forcd \(did you mean rls-not-forced\?\)/);
    const format = await runCli(['audit', '--format', 'jsno', '--database-url', db().url]);
    expect([format.code, format.stderr]).toEqual([2, expect.stringMatching(/--format must be one of table, json, sarif, junit, markdown, not jsno \(did you mean json\?\)/)]);
  });

  it('audit --json is --format json; audit renders the table format with renderAudit', async () => {
    const config = path.join(repoRoot, 'tenancy.yaml');
    const args = ['audit', '--database-url', db().url, '--config', config, '--only', 'null-tenant'];
    const json = await runCli([...args, '--json']);
    const format = await runCli([...args, '--format', 'json']);
    expect(json.code).toBe(1);
    expect(json.stderr).toBe('');
    // The run's duration and its snapshot block (xids, WAL position: for a later --since) differ per run.
    const strip = (text: string) => ({ ...JSON.parse(text), summary: { ...JSON.parse(text).summary, durationMs: 0 }, snapshot: undefined });
    expect(strip(json.stdout)).toEqual(strip(format.stdout));
    expect(JSON.parse(json.stdout).findings.length).toBeGreaterThan(0);
    const both = await runCli([...args, '--json', '--format', 'sarif']);
    expect([both.code, both.stderr]).toEqual([2, expect.stringMatching(/--json and --format sarif disagree/)]);
    const table = await runCli(args);
    expect(table.code).toBe(1);
    expect(table.stdout).toMatch(/^crm-tenancy audit of public: FAILED — \d+ errors/);
    expect(table.stdout).toContain('summary: FAILED');
    // --verbose: the full listing and the coverage matrix.
    const verbose = await runCli([...args, '--verbose']);
    expect(verbose.stdout).toContain('coverage (. pass, E error, W warning, i info, ~ waived):');
  });

  it('migrate no longer takes the no-op --policies-dir', async () => {
    const r = await runCli(['migrate', 'status', '--policies-dir', 'policies', '--database-url', db().url]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown option '--policies-dir'/);
  });

  it('refuses non-PostgreSQL URLs with exit 2, from --database-url and from DATABASE_URL', async () => {
    const flag = await runCli(['init', '--stdout', '--database-url', 'mysql://root:hunter22@127.0.0.1/crm']);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toMatch(/^error: --database-url is a mysql:\/\/ URL: crm-tenancy works with PostgreSQL only/m);
    expect(flag.stderr + flag.stdout).not.toContain('hunter22');
    const env = await runCli(['audit'], { env: { DATABASE_URL: 'sqlserver://sa@db/crm' } });
    expect(env.code).toBe(2);
    expect(env.stderr).toMatch(/DATABASE_URL is a sqlserver:\/\/ URL/);
    // postgresql:// is PostgreSQL too.
    const ok = await runCli(['init', '--stdout', '--database-url', db().url.replace(/^postgres:/, 'postgresql:')]);
    expect(ok.code).toBe(0);
  });

  it('warns (stderr) about a password given in --database-url, and only there', async () => {
    // The server's own password where it checks one (embedded), else one that trust auth ignores.
    const withPassword = new URL(db().url);
    if (!withPassword.password) withPassword.password = 'pw-on-the-command-line';
    const secret = decodeURIComponent(withPassword.password);
    const flag = await runCli(['init', '--stdout', '--database-url', withPassword.toString()], { keepPassword: true });
    expect(flag.code).toBe(0);
    expect(flag.stderr).toMatch(/^warning: the password in --database-url is visible to every user of this machine \(ps, \/proc\/PID\/cmdline\)/m);
    expect(flag.stderr).toContain('PGPASSWORD, ~/.pgpass or DATABASE_URL');
    expect(flag.stderr + flag.stdout).not.toContain(secret);
    const param = await runCli(['init', '--stdout', '--database-url', `${db().url}?password=pw-as-a-parameter`], { keepPassword: true });
    expect(param.stderr).toMatch(/^warning: the password in --database-url/m);
    // The same URL from DATABASE_URL, or a URL without a password (moved to PGPASSWORD): no warning.
    const env = await runCli(['init', '--stdout'], { env: { DATABASE_URL: withPassword.toString() } });
    expect([env.code, env.stderr]).toEqual([0, '']);
    const none = await runCli(['init', '--stdout', '--database-url', db().url]);
    expect([none.code, none.stderr]).toEqual([0, '']);
  });

  it('a database or role that does not exist: exit 2 with a hint saying what to run', async () => {
    const noDb = await runCli(['init', '--stdout', '--database-url', withDatabase(db().url, 'crmt_no_such_db')]);
    expect(noDb.code).toBe(2);
    expect(noDb.stderr).toContain('database "crmt_no_such_db" does not exist');
    expect(noDb.stderr).toMatch(/^hint: create it: createdb crmt_no_such_db .*or fix the database name/m);
    const url = new URL(db().url);
    url.username = 'crmt_no_such_role';
    const noRole = await runCli(['init', '--stdout', '--database-url', url.toString()]);
    expect(noRole.code).toBe(2);
    if (noRole.stderr.includes('password authentication failed')) {
      // A server that checks passwords (the embedded one) does not say whether the role exists.
      expect(noRole.stderr).toMatch(/^hint: check the password: PGPASSWORD, ~\/\.pgpass/m);
    } else {
      expect(noRole.stderr).toContain('role "crmt_no_such_role" does not exist');
      expect(noRole.stderr).toMatch(/^hint: create it as a superuser: psql -c 'CREATE ROLE "crmt_no_such_role" LOGIN'/m);
    }
  });

  it('a missing privilege names the GRANT to run', async () => {
    const role = await db().createRole('nopriv');
    await db().client.query(`REVOKE ALL ON SCHEMA public FROM PUBLIC`);
    try {
      const r = await runCli(['dedupe', '--dry-run', '--database-url', db().urlFor(role), '--config', path.join(repoRoot, 'tenancy.yaml')]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/permission denied for schema public/);
      expect(r.stderr).toMatch(/^hint: .*GRANT USAGE ON SCHEMA public TO <your role>/m);
    } finally {
      await db().client.query(`GRANT ALL ON SCHEMA public TO PUBLIC`);
    }
  });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('CLI progress', () => {
  const event = { kind: 'backfill', task: 'public.deals', done: 50, total: 100, detail: { rowsPerSec: 800 } } as const;

  it('a bar left running keeps a timer alive; withProgress stops it even when the work throws', async () => {
    const tty = recorder(true);
    const output = createOutput({ stderr: tty.stream, stdout: recorder(false).stream, env: {} });
    expect(output.interactive).toBe(true);
    const before = timers();
    const leaked = createProgress(output);
    leaked.listener({ kind: 'verify', task: 'app deals', done: 1, total: 8 });
    expect(timers()).toBe(before + 1); // cli-progress's redraw timer: the process could not exit
    leaked.stop();
    expect(timers()).toBe(before);
    await expect(
      withProgress(output, {}, async (onProgress) => {
        onProgress!({ kind: 'verify', task: 'app deals', done: 1, total: 8 });
        throw new Error('probe failed');
      }),
    ).rejects.toThrow('probe failed');
    expect(timers()).toBe(before);
    expect(tty.text()).toContain('verify');
  });

  it('a warning while a bar is drawn is printed above it (line cleared first), never over it', async () => {
    const tty = recorder(true);
    const output = createOutput({ stderr: tty.stream, env: { NO_COLOR: '1' } });
    await withProgress(output, {}, async (onProgress) => {
      onProgress!(event);
      const drawn = tty.chunks.length;
      output.warn('waiting for a lock held by pid 4242');
      // Not written over the bar: queued for the bar's next redraw.
      expect(tty.chunks.slice(drawn).join('')).not.toContain('waiting for a lock');
    });
    const at = tty.chunks.findIndex((c) => c.includes('waiting for a lock'));
    expect(at).toBeGreaterThan(0);
    expect(tty.chunks.slice(0, at).join('')).toMatch(/\u001b\[2K$/); // the bar's line erased just before
    expect(tty.chunks[at]).toMatch(/^warning: waiting for a lock held by pid 4242\n/);
    // After the bars stop, lines go straight to the stream again.
    output.warn('after');
    expect(tty.chunks.at(-1)).toBe('warning: after\n');
  });

  it('without a terminal: one progress line per interval at most, none after stop, none in --json mode', async () => {
    const log = recorder(false);
    const output = createOutput({ stderr: log.stream, env: {} });
    expect(output.interactive).toBe(false);
    const progress = createProgress(output, { heartbeatMs: 40 });
    await sleep(100);
    expect(log.text()).toBe(''); // nothing to report yet
    progress.listener(event);
    progress.listener({ ...event, done: 60 });
    await sleep(60);
    progress.stop();
    const lines = log.text().split('\n').filter(Boolean);
    expect(lines.length).toBeGreaterThanOrEqual(1);
    expect(lines.length).toBeLessThanOrEqual(2);
    expect(lines[0]).toMatch(/^progress: backfill public\.deals: 60\/100 rows \(60%\), 800 rows\/s · \d+ s$/);
    await sleep(100);
    expect(log.text().split('\n').filter(Boolean)).toHaveLength(lines.length);
    const quiet = recorder(false);
    const json = createProgress(createOutput({ stderr: quiet.stream, env: {} }), { json: true, heartbeatMs: 10 });
    json.listener(event);
    await sleep(50);
    json.stop();
    expect(quiet.text()).toBe('');
    // With nothing to show, core code gets no listener at all (migrate then opens no progress connection).
    await withProgress(createOutput({ stderr: quiet.stream, env: {} }), { json: true }, async (onProgress) => expect(onProgress).toBeUndefined());
  });

  it('the default heartbeat is 10 s: a quick job logs nothing', async () => {
    const log = recorder(false);
    await withProgress(createOutput({ stderr: log.stream, env: {} }), {}, async (onProgress) => {
      onProgress!(event);
      await sleep(50);
    });
    expect(log.text()).toBe('');
  });
});

describe('CLI option parsers', () => {
  it('numbers, durations, enums, lists and pairs: bad values are usage errors naming the option', () => {
    expect(wholeNumber('--retries', '0')).toBe(0);
    expect(positiveInt('--jobs', '4')).toBe(4);
    for (const bad of ['0', '-1', '1.5', 'abc', '', '1e3', '9007199254740993']) {
      expect(() => positiveInt('--jobs', bad), bad).toThrow(/--jobs must be a whole number ≥ 1/);
    }
    expect([duration('--lock-timeout', '500'), duration('--lock-timeout', '500ms'), duration('--lock-timeout', '1.5s'), duration('--lock-timeout', '2min')]).toEqual([
      500, 500, 1500, 120_000,
    ]);
    for (const bad of ['-5', 'soon', '1.5', '5 years']) expect(() => duration('--lock-timeout', bad), bad).toThrow(/--lock-timeout must be a duration/);
    expect(() => duration('--statement-timeout', '0', 1)).toThrow(/at least 1 ms/);
    expect(oneOf('--fail-on', 'warning', ['error', 'warning'] as const)).toBe('warning');
    expect(() => oneOf('--fail-on', 'warnings', ['error', 'warning'])).toThrow(/not warnings \(did you mean warning\?\)/);
    expect(() => oneOf('--fail-on', 'zzz', ['error', 'warning'])).toThrow(/not zzz$/);
    expect(commaList(' a, ,b ')).toEqual(['a', 'b']);
    expect(commaList(undefined)).toBeUndefined();
    expect(pair('--tenants', '1, 2', 'tenant keys')).toEqual(['1', '2']);
    for (const bad of ['1', '1,1', '1,', '1,2,3']) expect(() => pair('--tenants', bad, 'tenant keys')).toThrow(/--tenants takes two different tenant keys/);
    expect(() => knownNames('--only', ['null-tenant'], ['null-tenant'], 'check id')).not.toThrow();
    expect(() => knownNames('--only', ['nul-tenant', 'zzz'], ['null-tenant'], 'check id')).toThrow(
      '--only: unknown check ids: nul-tenant (did you mean null-tenant?), zzz',
    );
  });

  it('suggestions: close typos and whole word parts, nothing for unrelated names', () => {
    const ids = ['null-tenant', 'nullable-tenant-column', 'rls-disabled', 'rls-not-forced', 'no-policy'];
    expect(suggest('nul-tenant', ids)).toEqual(['null-tenant']);
    expect(suggest('rls-disbaled', ids)).toEqual(['rls-disabled']);
    expect(suggest('policy', ids)).toEqual(['no-policy']);
    expect(suggest('completely-different', ids)).toEqual([]);
  });
});
