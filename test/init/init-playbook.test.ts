// init's draft passes the whole playbook unchanged apart from the TODOs (exempt reasons, the app role):
// init → generate → migrate → backfill → dedupe → migrate → policies apply → verify → audit, each
// through the real CLI on a fresh sample CRM.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseManifestText } from '../../src/config/manifest.js';
import { runCli } from '../support/cli.js';
import { useTestDatabase } from '../support/database.js';
import { useTempDirs } from '../migrate/support.js';

describe("init's draft on the sample CRM", () => {
  const db = useTestDatabase({ sample: true });
  const tempDir = useTempDirs();

  it('runs the playbook end to end with only the TODOs filled in', async () => {
    const dir = await tempDir();
    const config = path.join(dir, 'tenancy.yaml');
    const common = ['--database-url', db().url, '--config', config];
    const init = await runCli(['init', ...common]);
    expect(init.code, init.stderr).toBe(0);
    const draft = await readFile(config, 'utf8');
    // As drafted it does not validate: every exempt table needs a reason.
    expect(() => parseManifestText(draft)).toThrow(/problem/);
    expect(draft).toContain('composite_keys: true');

    // Fill in the TODOs only: the exempt reasons, and this run's own application role (roles are
    // cluster-wide; a fixed name would collide with parallel test files).
    const app = await db().createRole('app');
    const filled = draft
      .replaceAll('"TODO: reason"', '"global data, read by operators only"')
      .replace(/ {2}app: \[app_user\] {3}# TODO: .*/, `  app: [${app}]`);
    expect(filled.split('\n').filter((l, i) => l !== draft.split('\n')[i]).length).toBe(
      draft.split('\n').filter((l) => l.includes('"TODO: reason"') || l.includes('app: [app_user]')).length,
    );
    await writeFile(config, filled);

    const steps: [string, string[]][] = [
      ['generate', ['generate', '--migrations-dir', path.join(dir, 'migrations'), '--policies-dir', path.join(dir, 'policies')]],
      ['migrate (first try)', ['migrate', '--migrations-dir', path.join(dir, 'migrations')]],
      ['backfill', ['backfill', '--detach-cross-tenant']],
      ['dedupe', ['dedupe']],
      ['migrate', ['migrate', '--migrations-dir', path.join(dir, 'migrations')]],
      ['policies apply', ['policies', 'apply', '--policies-dir', path.join(dir, 'policies')]],
      ['verify', ['verify']],
      ['audit', ['audit']],
    ];
    for (const [name, args] of steps) {
      const r = await runCli([...args, ...common], { cwd: dir });
      // The first migrate refuses on the sample's planted NULL tenants: that is the playbook, not a failure.
      const expected = name === 'migrate (first try)' ? 1 : 0;
      expect(r.code, `${name}:\n${r.stdout}\n${r.stderr}`).toBe(expected);
      if (name === 'migrate (first try)') {
        expect(r.stderr).toContain('crm-tenancy backfill --table activities');
        expect(r.stderr).not.toMatch(/no backfill path|orphan/);
      }
    }
    // Isolation is in place: the application role with no tenant set sees no row of a scoped table.
    const app_ = await db().connect(db().url);
    await app_.query(`SET ROLE ${app}`);
    expect((await app_.query(`SELECT count(*)::int AS n FROM public.deals`)).rows[0].n).toBe(0);
  });
});
