// A read-only server (hot standby, or default_transaction_read_only): every command that writes or probes refuses with exit 2; audit runs.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot, runCli } from '../support/cli.js';
import { useTestDatabase } from '../support/database.js';

const config = path.join(repoRoot, 'tenancy.yaml');

/** The commands that write or probe, each refused before it does anything. */
const REFUSED = [
  ['backfill'],
  ['backfill', '--dry-run'],
  ['dedupe'],
  ['dedupe', '--dry-run'],
  ['undo', 'backfill-20260101T000000-abcd'],
  ['migrate'],
  ['migrate', 'down'],
  ['policies', 'apply'],
  ['policies', 'diff'],
  ['verify'],
  ['sample'],
];

/** Those that only read: they run on a standby. */
const READING = [
  ['migrate', 'status'],
  ['migrate', '--dry-run'],
  ['policies', 'status'],
  ['undo', '--list'],
  ['init', '--stdout'],
];

describe('read-only server', () => {
  const db = useTestDatabase({ sample: true });
  const readOnly = () => `${db().url}?options=-c%20default_transaction_read_only%3Don`;

  it('commands that write or probe exit 2 saying "read-only", and change nothing', async () => {
    const tables = async () => (await db().client.query(`SELECT count(*)::int AS n FROM pg_class WHERE relnamespace = 'public'::regnamespace`)).rows[0].n;
    const before = await tables();
    for (const args of REFUSED) {
      const r = await runCli([...args, '--config', config, '--database-url', readOnly()]);
      expect({ args, code: r.code }).toEqual({ args, code: 2 });
      expect(r.stderr, args.join(' ')).toMatch(
        new RegExp(`^error: ${args[0] === 'migrate' || args[0] === 'policies' ? `${args[0]} \\w+` : args[0]}: the server is read-only \\(default_transaction_read_only is on\\)`, 'm'),
      );
      expect(r.stderr).toMatch(/^hint: point --database-url \/ DATABASE_URL at the primary server/m);
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    }
    expect(await tables()).toBe(before);
    expect((await db().client.query(`SELECT to_regnamespace('tenancy') IS NULL AS none`)).rows[0].none).toBe(true);
  });

  it('audit and the reading commands still run on it', async () => {
    const audit = await runCli(['audit', '--config', config, '--database-url', readOnly()]);
    expect([0, 1]).toContain(audit.code);
    expect(audit.stdout).toMatch(/^crm-tenancy audit of public: /);
    for (const args of READING) {
      const r = await runCli([...args, '--config', config, '--database-url', readOnly()]);
      expect({ args, stderr: r.stderr }).not.toEqual({ args, stderr: expect.stringContaining('read-only') });
      expect({ args, code: r.code }).toEqual({ args, code: r.code === 1 ? 1 : 0 });
    }
  });

  it('the same commands on the writable URL are not refused (the check reads the server, not the command)', async () => {
    for (const args of [['sample', '--schema', 'writable_copy'], ['dedupe', '--dry-run']]) {
      const r = await runCli([...args, '--config', config, '--database-url', db().url]);
      expect(r.stderr, args.join(' ')).not.toContain('read-only');
      expect([0, 1], `${args.join(' ')}: ${r.stderr}`).toContain(r.code);
    }
    // verify gets past the check to its own preflight (this database has no application role yet).
    const verify = await runCli(['verify', '--config', config, '--database-url', db().url]);
    expect(verify.stderr).toMatch(/^error: application role\(s\) crm_app do not exist/m);
  });
});
