// generate on the sample CRM: phases, detection of what exists, pending files, squawk, the SQL splitter.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadManifest } from '../../src/config/manifest.js';
import { generateMigrations } from '../../src/migrate/generate.js';
import { groupUnits, parseMigrationText, splitStatements } from '../../src/migrate/migration-file.js';
import { fitIdentifier } from '../../src/migrate/plan.js';
import { repoRoot, runCli } from '../support/cli.js';
import { useTestDatabase } from '../support/database.js';
import { squawk } from './support.js';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'crmt-gen-'));
  dirs.push(dir);
  return dir;
}
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

describe('generate on the sample CRM', () => {
  const db = useTestDatabase({ sample: true });

  it('writes the four phases, only for what is missing, and squawk finds nothing', async () => {
    const manifest = await loadManifest(path.join(repoRoot, 'tenancy.yaml'));
    const dir = await tempDir();
    const policiesDir = await tempDir();
    const r = await generateMigrations({ client: db().client, manifest, migrationsDir: dir, policiesDir });
    // generate also writes the policy files (contract 2) and reports each one.
    expect(r.policyFiles.length).toBeGreaterThan(0);
    expect(r.policyFiles.every((p) => p.status === 'written')).toBe(true);
    const names = r.files.map((f) => path.basename(f.file));
    expect(names.slice(0, 3)).toEqual(['0001_tenancy-expand.sql', '0002_tenancy-index.sql', '0003_tenancy-validate.sql']);
    // The composite phase is one file per referenced table (a reviewer reads one parent at a time).
    // (generate numbers each file; the renderer's part suffix `-N` is kept or dropped by generate's naming)
    expect(names.slice(3).every((n, i) => new RegExp(`^${String(4 + i).padStart(4, '0')}_tenancy-composite(-${i + 1})?\\.sql$`).test(n))).toBe(true);
    expect(names.length).toBeGreaterThan(5);
    const steps = (phase: string) => r.files.filter((f) => f.phase === phase).flatMap((f) => f.steps);
    // The three tables without company_id get the column; the others only the stamping default.
    expect(steps('expand').filter((s) => s.startsWith('column:')).sort()).toEqual([
      'column:email_campaigns',
      'column:performance_alerts',
      'column:user_conversations',
    ]);
    // FKs to companies exist on some tables: generated only where missing.
    expect(steps('expand').filter((s) => s.startsWith('fk:')).sort()).toEqual(
      ['fk:document_signatures', 'fk:email_campaigns', 'fk:folders', 'fk:performance_alerts', 'fk:pipeline_stages', 'fk:twilio_settings', 'fk:user_conversations'],
    );
    // Indexes exist on some tables (pipeline_stages, folders…): generated only where missing.
    expect(steps('index').sort()).toEqual(
      ['document_signatures', 'email_campaigns', 'payment_history', 'performance_alerts', 'phone_numbers', 'pipelines', 'sms_templates', 'twilio_settings', 'user_conversations'].map((t) => `index:${t}`),
    );
    // contacts and files are NOT NULL already.
    expect(steps('validate')).not.toContain('not-null:contacts');
    expect(steps('validate')).not.toContain('not-null:files');
    expect(steps('validate')).toContain('not-null:deals');
    expect(steps('validate')).toContain('unique:twilio_settings:["company_id"]');
    expect(steps('validate')).toContain('unique:users:["company_id","email"]');
    expect(steps('composite')).toContain('parent-key:contacts');
    expect(steps('composite')).toContain('composite-fk:deals:contact_id');
    expect(steps('composite')).toContain('composite-fk:folders:parent_id');

    const composites = await Promise.all(r.files.slice(3).map((f) => readFile(f.file, 'utf8')));
    expect(composites.join('\n')).toMatch(/ON DELETE CASCADE/);
    // Each composite file is about one referenced table: every foreign key in it references that table.
    for (const [i, f] of r.files.slice(3).entries()) {
      const parent = /^-- This file: the foreign keys to public\.(\w+)\.$/m.exec(composites[i])![1];
      expect(f.steps.every((s) => s === `parent-key:${parent}` || r.steps.some((x) => x.kind === 'composite-fk' && x.parent === parent && s === `composite-fk:${x.table}:${x.column}`))).toBe(true);
      // The metadata is one value per line, and no line is long.
      expect(composites[i].split('\n').filter((l) => l.length > 200)).toEqual([]);
    }
    const text = composites[0];
    expect(text).toContain('-- Up Migration');
    expect(text).toContain('-- Down Migration');
    expect(text).toMatch(/-- Lock: /);
    const parsed = parseMigrationText(text, 'x');
    expect(parsed.meta?.phase).toBe('composite');
    expect(parsed.down.length).toBeGreaterThan(0);

    // Every statement (or BEGIN … COMMIT block) says which lock it takes.
    for (const f of r.files) {
      let lockNoted = false;
      let inBlock = false;
      for (const line of (await readFile(f.file, 'utf8')).split('\n')) {
        if (/^-- .*(Lock: |No table lock)/.test(line)) lockNoted = true;
        else if (line === 'BEGIN;') inBlock = true;
        else if (line === 'COMMIT;') {
          inBlock = false;
          lockNoted = false;
        } else if (/^(ALTER|CREATE|DROP|DO) /.test(line)) {
          expect(lockNoted, `${path.basename(f.file)}: no lock comment before ${line}`).toBe(true);
          if (!inBlock) lockNoted = false;
        }
      }
    }

    const lint = await squawk(r.files.map((f) => f.file));
    expect(lint.out).not.toMatch(/warning|error/i);
    expect(lint.code).toBe(0);

    // Twice without migrating: the pending files already provide every step.
    const again = await generateMigrations({ client: db().client, manifest, migrationsDir: dir, policiesDir });
    expect(again.files).toEqual([]);
    expect(again.pending).toHaveLength(r.files.length);
    expect(again.policyFiles.every((p) => p.status === 'unchanged')).toBe(true);
    expect(await readdir(dir)).toHaveLength(r.files.length);
  });

  it('matches the migrations shipped in migrations/ (regenerate them when the renderer changes)', async () => {
    const manifest = await loadManifest(path.join(repoRoot, 'tenancy.yaml'));
    const r = await generateMigrations({ client: db().client, manifest, migrationsDir: await tempDir(), policiesDir: await tempDir() });
    const strip = (t: string) => t.replace(/ on \d{4}-\d\d-\d\dT[\d:.]+Z/, '');
    for (const f of r.files) {
      const shipped = await readFile(path.join(repoRoot, 'migrations', path.basename(f.file)), 'utf8');
      expect(strip(await readFile(f.file, 'utf8'))).toBe(strip(shipped));
    }
    expect((await readdir(path.join(repoRoot, 'migrations'))).filter((n) => n.endsWith('.sql'))).toHaveLength(r.files.length);
  });

  it('runs as a command: --json on stdout, into any --migrations-dir', async () => {
    const dir = path.join(await tempDir(), 'nested', 'migrations');
    const r = await runCli(['generate', '--json', '--config', path.join(repoRoot, 'tenancy.yaml'), '--database-url', db().url, '--migrations-dir', dir, '--policies-dir', await tempDir()]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout);
    expect(out.files.map((f: { phase: string }) => f.phase).slice(0, 4)).toEqual(['expand', 'index', 'validate', 'composite']);
    expect(await readdir(dir)).toHaveLength(out.files.length);
  });

  it('squawk flags a naive migration (the lint check can fail)', async () => {
    const dir = await tempDir();
    const file = path.join(dir, '0001_naive.sql');
    await import('node:fs/promises').then((fs) => fs.writeFile(file, 'CREATE INDEX deals_company_id_idx ON deals (company_id);\nALTER TABLE deals ALTER COLUMN company_id SET NOT NULL;\n'));
    const lint = await squawk([file]);
    expect(lint.code).not.toBe(0);
    expect(lint.out).toMatch(/require-concurrent-index-creation/);
  });
});

describe('the SQL splitter', () => {
  it('splits at top-level semicolons only', () => {
    const sql = `-- a comment; not a statement
SET lock_timeout = '1s';
ALTER TABLE "we;ird ""t""" ADD COLUMN "a;b" text DEFAULT 'x;y''z';
/* block; comment */ DO $crm$ BEGIN RAISE NOTICE 'a;b'; END $crm$;
BEGIN;
SELECT $$;$$, E'\\';';
COMMIT;
SELECT 1`;
    const statements = splitStatements(sql);
    expect(statements).toEqual([
      `SET lock_timeout = '1s';`,
      `ALTER TABLE "we;ird ""t""" ADD COLUMN "a;b" text DEFAULT 'x;y''z';`,
      `DO $crm$ BEGIN RAISE NOTICE 'a;b'; END $crm$;`,
      'BEGIN;',
      `SELECT $$;$$, E'\\';';`,
      'COMMIT;',
      'SELECT 1',
    ]);
    const units = groupUnits(statements);
    expect(units.map((u) => u.transaction)).toEqual([false, false, false, true, false]);
    expect(() => groupUnits(['BEGIN;', 'SELECT 1;'])).toThrow(/COMMIT/);
  });

  it('fits long names into 63 bytes without clashing', () => {
    const long = `${'ü'.repeat(40)}_company_id_idx`;
    const fitted = fitIdentifier(long);
    expect(Buffer.byteLength(fitted)).toBeLessThanOrEqual(63);
    expect(fitted).not.toBe(fitIdentifier(`${'ü'.repeat(40)}_company_id_key`));
    expect(fitIdentifier('deals_company_id_idx')).toBe('deals_company_id_idx');
  });
});
