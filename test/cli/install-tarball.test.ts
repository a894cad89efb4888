// Installed as users install it: `npm pack`, the tarball installed into a project that sits in a
// mode-700 directory (root's home in many containers), then the demo and an audit from there.
import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

const run = promisify(execFile);

describe('the packed tarball, installed into a project in a mode-700 directory', () => {
  let work: string;
  let project: string;
  let tarball: string;
  let db: TestDatabase;

  beforeAll(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), 'crmt-pack-'));
    // The built dist/ is what gets packed (pretest builds it); prepare is not run again here.
    const packed = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: repoRoot });
    tarball = path.join(work, (JSON.parse(packed.stdout) as { filename: string }[])[0].filename);
    const closed = path.join(work, 'home');
    project = path.join(closed, 'app');
    await mkdir(project, { recursive: true });
    await chmod(closed, 0o700);
    const ours = JSON.parse(await readFile(path.join(repoRoot, 'package.json'), 'utf8')) as { allowScripts: unknown };
    await writeFile(
      path.join(project, 'package.json'),
      JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, allowScripts: ours.allowScripts }),
    );
    await run('npm', ['install', '--no-audit', '--no-fund', '--omit=dev', tarball], { cwd: project, timeout: 240_000 });
    db = await createTestDatabase({ sample: true });
  }, 300_000);

  afterAll(async () => {
    await db?.drop();
    await rm(work, { recursive: true, force: true });
  });

  it('ships everything read at run time (state/, docs/, audits/, sample/)', async () => {
    const listing = (await run('tar', ['tzf', tarball])).stdout.split('\n');
    for (const needed of ['package/state/0001-core.sql', 'package/docs/checks/null-tenant.md', 'package/audits/0005-null-tenant.sql', 'package/sample/crm-schema.sql', 'package/dist/cli/index.js']) {
      expect(listing).toContain(needed);
    }
  });

  it('runs the demo on embedded PostgreSQL and audits a database from the installed bin', async () => {
    const bin = path.join(project, 'node_modules', '.bin', 'crm-tenancy');
    const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
    delete env.DATABASE_URL;
    // Rejects (with the CLI's stderr in the error) unless the demo exits 0.
    const demo = await run(bin, ['demo'], { cwd: project, env, timeout: 120_000 });
    expect(demo.stdout).toMatch(/audit \(after\)/);
    const manifest = path.join(project, 'node_modules', 'crm-tenancy', 'tenancy.yaml');
    const audit = await run(bin, ['audit', '--config', manifest, '--format', 'json'], {
      cwd: project,
      env: { ...env, DATABASE_URL: db.url },
    }).catch((e: { code: number; stdout: string; stderr: string }) => e);
    // The sample CRM as loaded has every defect of the report: the gate fails (1), it does not crash (2).
    expect((audit as { code?: number }).code).toBe(1);
    const report = JSON.parse((audit as { stdout: string }).stdout) as { findings: { check: string }[] };
    expect(report.findings.map((f) => f.check)).toContain('null-tenant');
  }, 240_000);
});
