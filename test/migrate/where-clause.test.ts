// A partial key's `where` is parsed before generate prints it: one boolean expression, or exit 2 naming the table.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { predicateMatches } from '../../src/migrate/predicate-match.js';
import { whereProblem } from '../../src/migrate/where-clause.js';
import { runCli } from '../support/cli.js';
import { useTestDatabase } from '../support/database.js';
import { useTempDirs } from './support.js';

describe('a unique key’s where', () => {
  const db = useTestDatabase();
  const tempDir = useTempDirs();

  it.each([
    ['deleted_at IS NULL'],
    ["status = 'active' AND deleted_at IS NULL"],
    ["note <> 'a;b -- c'"],
    ['deleted_at IS NULL\n  AND archived IS NOT TRUE'],
  ])('accepts %j', (where) => {
    expect(whereProblem('public', 'codes', where)).toBeUndefined();
  });

  it.each([
    ['deleted_at IS NULL); DROP TABLE codes; SELECT (1', /statements/],
    ['deleted_at IS NULL) --', /comment/],
    ['deleted_at IS NULL) /*', /parse|comment/],
    ['true) UNION SELECT 1 FROM other WHERE (true', /one boolean expression/],
    ['true) GROUP BY (1', /one boolean expression/],
    ['deleted_at IS', /parse/],
  ])('refuses %j', (where, problem) => {
    expect(whereProblem('public', 'codes', where)).toMatch(problem);
  });

  it('matches an index predicate as pg_get_expr prints it, and tells different ones apart', () => {
    expect(predicateMatches('(deleted_at IS NULL)', 'deleted_at IS NULL')).toBe(true);
    expect(predicateMatches("((status = 'active'::text) AND (deleted_at IS NULL))", "status = 'active' AND deleted_at IS NULL")).toBe(true);
    expect(predicateMatches('(deleted_at IS NOT NULL)', 'deleted_at IS NULL')).toBe(false);
    expect(predicateMatches('(deleted_at IS NULL)', undefined)).toBe(false);
    // A full unique index is stricter: it enforces a partial key too.
    expect(predicateMatches(null, 'deleted_at IS NULL')).toBe(true);
  });

  it('generate exits 2 naming the table for a where that is not one expression, and writes nothing; a good one generates', async () => {
    const c = db().client;
    await c.query(`CREATE TABLE orgs (id int PRIMARY KEY);
                   CREATE TABLE codes (id int PRIMARY KEY, org_id int NOT NULL REFERENCES orgs, code text NOT NULL, deleted_at timestamptz)`);
    const run = async (where: string) => {
      const dir = await tempDir();
      const config = path.join(dir, 'tenancy.json.yaml');
      const raw = {
        schema: 'public',
        tenant: { table: 'orgs', key: 'id', column: 'org_id', setting: 'app.org' },
        roles: { app: ['app'] },
        tables: { codes: { unique: [{ columns: ['code'], where }] } },
      };
      await writeFile(config, JSON.stringify(raw));
      const migrations = path.join(dir, 'migrations');
      const r = await runCli(['generate', '--config', config, '--database-url', db().url, '--migrations-dir', migrations, '--policies-dir', path.join(dir, 'policies')]);
      return { ...r, migrations };
    };
    const bad = await run('deleted_at IS NULL); DROP TABLE orgs CASCADE; SELECT (1');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/tables\.codes\.unique: where must be one expression/);
    const good = await run('deleted_at IS NULL');
    expect(good.code, good.stderr).toBe(0);
    const migrate = await runCli(['migrate', '--config', path.join(path.dirname(good.migrations), 'tenancy.json.yaml'), '--database-url', db().url, '--migrations-dir', good.migrations]);
    expect(migrate.code, migrate.stderr).toBe(0);
    const idx = await c.query(`SELECT pg_get_indexdef(indexrelid) AS def FROM pg_index WHERE indrelid = 'codes'::regclass AND indisunique AND NOT indisprimary`);
    expect(idx.rows.map((r) => r.def)).toEqual(['CREATE UNIQUE INDEX codes_org_id_code_partial_key ON public.codes USING btree (org_id, code) WHERE (deleted_at IS NULL)']);
    const orgs = await c.query(`SELECT to_regclass('public.orgs') IS NOT NULL AS there`);
    expect(orgs.rows[0].there).toBe(true);
  });
});
