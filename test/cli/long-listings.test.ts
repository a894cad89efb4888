// Long listings: dedupe's groups and conflicts, backfill's orphans — totals and the first 20, --verbose lists every one.
import { describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { useTestDatabase } from '../support/database.js';
import { writeConfig } from '../backfill/helpers.js';

const YAML = `schema: ds
state_schema: ds_state
tenant: { table: companies, key: id, column: company_id, setting: app.company }
roles: { app: [ds_app_never_created] }
tables:
  customers: {}
  items: { unique: [[code]] }
`;

const GROUPS = 60; // one entity each: 3 rows, 2 to remove
const CONFLICTS = 25; // 2 rows each that differ in their customer (a foreign key): left alone, one warning each

const lines = (text: string, pattern: RegExp) => text.split('\n').filter((l) => pattern.test(l));

describe('dedupe summarises long listings', () => {
  const db = useTestDatabase();

  async function load(): Promise<string> {
    await db().client.query(`DROP SCHEMA IF EXISTS ds CASCADE; DROP SCHEMA IF EXISTS ds_state CASCADE;
      CREATE SCHEMA ds;
      CREATE TABLE ds.companies (id int PRIMARY KEY);
      CREATE TABLE ds.customers (id int PRIMARY KEY, company_id int NOT NULL REFERENCES ds.companies);
      CREATE TABLE ds.items (id serial PRIMARY KEY, company_id int NOT NULL REFERENCES ds.companies,
                             customer_id int REFERENCES ds.customers, code text NOT NULL);
      INSERT INTO ds.companies VALUES (1), (2);
      INSERT INTO ds.customers VALUES (10, 1), (11, 1);
      INSERT INTO ds.items (company_id, customer_id, code) SELECT 1, 10, 'g' || g FROM generate_series(1, ${GROUPS}) g, generate_series(1, 3);
      INSERT INTO ds.items (company_id, customer_id, code) SELECT 1, 10 + k, 'k' || g FROM generate_series(1, ${CONFLICTS}) g, generate_series(0, 1) k;`);
    return writeConfig(YAML);
  }

  it('dry run: one line of totals, the first 20 groups and conflicts, a count of the rest; --verbose lists all', async () => {
    const config = await load();
    const args = ['dedupe', '--dry-run', '--config', config, '--database-url', db().url];
    const r = await runCli(args);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(
      `${GROUPS} duplicate group(s) in 1 table(s): ${GROUPS} would be resolved — ${2 * GROUPS} row(s) removed (archived), 0 reference(s) re-pointed; ` +
        `0 refused or skipped; ${CONFLICTS} conflict(s) left as they are`,
    );
    expect(lines(r.stdout, /^ {2}items tenant 1 unique \(code\) = \{"code":"g\d+"\}: would resolve$/)).toHaveLength(20);
    expect(r.stdout).toContain(`  … and ${GROUPS - 20} more group(s) (--verbose lists them all, --json gives them as data)`);
    expect(lines(r.stdout, /: conflict: 2 rows differ in customer_id \(foreign key\)/)).toHaveLength(20);
    expect(r.stdout).toContain(`  … and ${CONFLICTS - 20} more conflict(s)`);
    // The core's warning per conflict: the first 10, then a count.
    expect(lines(r.stderr, /^warning: items: 2 rows of tenant 1 share/)).toHaveLength(10);
    expect(r.stderr).toContain(`warning: … and ${CONFLICTS - 10} more warnings like these (--verbose shows them all)`);
    expect(r.stdout.split('\n').length).toBeLessThan(120);

    const all = await runCli([...args, '--verbose']);
    expect(all.code).toBe(1);
    expect(lines(all.stdout, /: would resolve$/)).toHaveLength(GROUPS);
    expect(lines(all.stdout, /: conflict: /)).toHaveLength(CONFLICTS);
    expect(all.stdout).not.toContain('more group(s)');
    expect(lines(all.stderr, /^warning: items: 2 rows of tenant 1 share/)).toHaveLength(CONFLICTS);
    expect(all.stderr).not.toContain('more warnings like these');
  });

  it('a real run: totals of what was done, 20 groups listed, no line per group on stderr', async () => {
    const config = await load();
    const r = await runCli(['dedupe', '--config', config, '--database-url', db().url]);
    expect(r.code).toBe(1); // the conflicts remain
    expect(r.stdout).toMatch(
      new RegExp(`^${GROUPS} duplicate group\\(s\\) in 1 table\\(s\\): ${GROUPS} resolved, 0 refused, 0 skipped; ${2 * GROUPS} row\\(s\\) removed \\(archived\\), 0 reference\\(s\\) re-pointed; ${CONFLICTS} conflict\\(s\\) left as they are$`, 'm'),
    );
    expect(lines(r.stdout, /: resolved$/)).toHaveLength(20);
    expect(r.stderr).not.toMatch(/kept \{"id"/); // the core's line per resolved group: --verbose only
    expect(lines(r.stderr, /^warning:/).length).toBeLessThanOrEqual(11);
    const { rows } = await db().client.query(`SELECT count(*)::int AS n FROM ds.items WHERE code LIKE 'g%'`);
    expect(rows[0].n).toBe(GROUPS);
  });
});

describe('backfill summarises its orphans', () => {
  const db = useTestDatabase();

  it('30 orphans: the count, the first 20 and how many more; --verbose lists all 30', async () => {
    await db().client.query(`CREATE SCHEMA bo;
      CREATE TABLE bo.companies (id int PRIMARY KEY);
      CREATE TABLE bo.parents (id int PRIMARY KEY, company_id int REFERENCES bo.companies);
      CREATE TABLE bo.children (id int PRIMARY KEY, company_id int REFERENCES bo.companies, parent_id int REFERENCES bo.parents);
      INSERT INTO bo.companies VALUES (1);
      INSERT INTO bo.parents VALUES (1, 1);
      INSERT INTO bo.children SELECT g, NULL, CASE WHEN g <= 10 THEN 1 END FROM generate_series(1, 40) g;`);
    const config = await writeConfig(`schema: bo
state_schema: bo_state
tenant: { table: companies, key: id, column: company_id, setting: app.company }
roles: { app: [bo_app_never_created] }
tables:
  parents: {}
  children: { backfill: [parent_id] }
`);
    const args = ['backfill', '--dry-run', '--config', config, '--database-url', db().url];
    const r = await runCli(args);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toMatch(/^orphans: no source can place these rows .*\(30\):$/m);
    expect(lines(r.stdout, /^ {2}children \{"id":\d+\} {2}candidates: none$/)).toHaveLength(20);
    expect(r.stdout).toContain('  … and 10 more (--verbose lists them all, --json gives them as data)');
    const all = await runCli([...args, '--verbose']);
    expect(lines(all.stdout, /^ {2}children \{"id":\d+\} {2}candidates: none$/)).toHaveLength(30);
    expect(all.stdout).not.toContain('more (--verbose');
  });
});
