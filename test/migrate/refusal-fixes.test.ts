// migrate's refusals name a command that fixes each kind of problem, quoted for the shell, in a table
// that fits 120 columns; running the named fixes (through the real CLI) clears the refusals.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { runCli } from '../support/cli.js';
import { useTestDatabase } from '../support/database.js';
import { useTempDirs } from './support.js';

const FILL = 'fill;me';

describe('migrate refusals that can be followed', () => {
  const db = useTestDatabase();
  const tempDir = useTempDirs();

  it('names backfill, conflict-by-hand, --assign-orphans-to/shared_rows, dedupe and delete; following them clears each refusal', async () => {
    const c = db().client;
    await c.query(`
      CREATE SCHEMA rf;
      CREATE TABLE rf.tenants (id int PRIMARY KEY);
      INSERT INTO rf.tenants VALUES (1), (2);
      CREATE TABLE rf.parents (id int PRIMARY KEY, tenant_id int);
      CREATE TABLE rf.others (id int PRIMARY KEY, tenant_id int);
      INSERT INTO rf.parents VALUES (1, 1), (2, 2);
      INSERT INTO rf.others VALUES (1, 1), (2, 2);
      CREATE TABLE rf."${FILL}" (id int PRIMARY KEY, tenant_id int, parent_id int REFERENCES rf.parents);
      INSERT INTO rf."${FILL}" VALUES (1, NULL, 1), (2, NULL, 2), (3, 1, 1);
      CREATE TABLE rf.conflicted (id int PRIMARY KEY, tenant_id int, parent_id int REFERENCES rf.parents, other_id int REFERENCES rf.others);
      INSERT INTO rf.conflicted VALUES (1, NULL, 1, 2), (2, 1, 1, 1);
      CREATE TABLE rf.orphans (id int PRIMARY KEY, tenant_id int, parent_id int REFERENCES rf.parents);
      INSERT INTO rf.orphans VALUES (1, NULL, NULL), (2, 2, 2);
      CREATE TABLE rf.nopath (id int PRIMARY KEY, tenant_id int, note text);
      INSERT INTO rf.nopath VALUES (1, NULL, 'x'), (2, 1, 'y');
      CREATE TABLE rf.dups (id int PRIMARY KEY, tenant_id int, code text);
      INSERT INTO rf.dups VALUES (1, 1, 'a'), (2, 1, 'a'), (3, 2, 'a');
      CREATE TABLE rf.unknown (id int PRIMARY KEY, tenant_id int);
      INSERT INTO rf.unknown VALUES (1, 1), (2, 99);`);
    const dir = await tempDir();
    const config = path.join(dir, 'tenancy.yaml');
    await writeFile(
      config,
      stringify({
        schema: 'rf',
        tenant: { table: 'tenants', key: 'id', column: 'tenant_id', setting: 'app.tenant' },
        roles: { app: ['rf_app'] },
        tables: {
          parents: {},
          others: {},
          [FILL]: { backfill: ['parent_id'] },
          conflicted: { backfill: ['parent_id', 'other_id'] },
          orphans: { backfill: ['parent_id'] },
          nopath: {},
          dups: { unique: [['code']] },
          unknown: {},
        },
      }),
    );
    const migrations = path.join(dir, 'migrations');
    const common = ['--config', config, '--database-url', db().url];
    const gen = await runCli(['generate', ...common, '--migrations-dir', migrations, '--policies-dir', path.join(dir, 'policies')]);
    expect(gen.code, gen.stderr).toBe(0);

    const migrate = (...extra: string[]) => runCli(['migrate', ...common, '--migrations-dir', migrations, ...extra]);
    const asJson = await migrate('--json');
    expect(asJson.code, asJson.stderr).toBe(1);
    const fixes = Object.fromEntries(
      (JSON.parse(asJson.stdout).refused as { table: string; problem: string; fix: string }[]).map((r) => [`${r.problem} ${r.table}`, r.fix]),
    );
    expect(Object.keys(fixes).sort()).toEqual(
      ['null-tenant conflicted', `null-tenant ${FILL}`, 'null-tenant nopath', 'null-tenant orphans', 'duplicate dups', 'unknown-tenant unknown'].sort(),
    );
    expect(fixes[`null-tenant ${FILL}`]).toBe(`crm-tenancy backfill --table 'fill;me'`);
    expect(fixes['null-tenant conflicted']).toMatch(/^1 conflict\(s\), its sources disagree: set the tenant by hand from the samples of crm-tenancy backfill --table conflicted --dry-run/);
    expect(fixes['null-tenant conflicted']).not.toMatch(/^crm-tenancy backfill --table conflicted$/);
    expect(fixes['null-tenant orphans']).toBe(
      '1 orphan(s), no parent places them: crm-tenancy backfill --table orphans --assign-orphans-to TENANT, or mark orphans shared_rows: true (or exempt) in the manifest',
    );
    expect(fixes['null-tenant nopath']).toMatch(/^no backfill path .*crm-tenancy backfill --table nopath --assign-orphans-to TENANT, or mark nopath shared_rows: true/);
    expect(fixes['duplicate dups']).toBe('crm-tenancy dedupe --table dups');
    expect(fixes['unknown-tenant unknown']).toMatch(/^by hand: point unknown\.tenant_id at an existing tenants row, or delete those rows/);

    // The table on stderr: every fix shown, no line wider than 120 columns.
    const shown = await migrate();
    expect(shown.code).toBe(1);
    const lines = shown.stderr.split('\n');
    expect(Math.max(...lines.map((l) => [...l].length))).toBeLessThanOrEqual(120);
    expect(shown.stderr.replace(/[│\s]+/g, ' ')).toContain('--assign-orphans-to TENANT, or mark orphans shared_rows: true');

    // Follow each fix as written: the refusals go, one by one, then migrate completes.
    expect((await runCli(['backfill', ...common, '--table', FILL])).code).toBe(0);
    await c.query(`UPDATE rf.conflicted SET tenant_id = 1, other_id = 1 WHERE id = 1`);
    expect((await runCli(['backfill', ...common, '--table', 'orphans', '--assign-orphans-to', '2'])).code).toBe(0);
    expect((await runCli(['backfill', ...common, '--table', 'nopath', '--assign-orphans-to', '1'])).code).toBe(0);
    const again = JSON.parse((await migrate('--json')).stdout);
    expect(again.refused.map((r: { problem: string; table: string }) => `${r.problem} ${r.table}`).sort()).toEqual(['duplicate dups', 'unknown-tenant unknown']);
    expect((await runCli(['dedupe', ...common, '--table', 'dups'])).code).toBe(0);
    await c.query(`DELETE FROM rf.unknown WHERE tenant_id = 99`);
    const done = await migrate();
    expect(done.code, done.stderr).toBe(0);
    expect(done.stderr).toContain('migrations complete');
  });
});
