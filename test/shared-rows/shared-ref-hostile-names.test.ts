// The guard of a key into a shared_rows table (both triggers, both functions) with hostile names on
// every name it is built from: in the manifest (tables, tenant column: quotes, dollar tags, format
// codes, comment markers) and only in the catalog (key column, referenced key, constraint: line breaks
// too). The real migrate up and down run exactly the intended statements (a victim table keeps its
// rows), both triggers work and name the key verbatim, the audit recognizes them, down removes them.
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runAudit } from '../../src/audit/runner.js';
import { resolveLiveContext } from '../../src/config/live-context.js';
import type { Manifest } from '../../src/config/manifest.js';
import { ident, qualified } from '../../src/db/quote.js';
import { readPlanExtras } from '../../src/migrate/plan-extras.js';
import { sharedRefNames } from '../../src/migrate/plan-shared-refs.js';
import { planTenancy, stepId } from '../../src/migrate/plan.js';
import { renderMigrations } from '../../src/migrate/render.js';
import { runCli } from '../support/cli.js';
import { useTestDatabase } from '../support/database.js';
import { refusal as refusalOf } from '../support/refusal.js';
import { writeManifest } from '../verify/fixture.js';

const TENANT_COLUMN = `org"id */ $fn$ %s`;
const PARENT = `roles'; DELETE FROM public.victim; --`;
const CHILD = `mem $$ /* "x" $crm_tenancy$`;
const PARENT_KEY = `id\n-- Down Migration\nDELETE FROM public.victim; --`;
const COLUMN = `role%s\u2028$fn1$' %I`;
const FK = `fk */\n%I %s -- Up Migration\r\nDELETE FROM public.victim; --`;
const deleteLines = (text: string): string[] => text.split(/\r\n|[\n\r\u2028\u2029]/u).filter((l) => /^\s*DELETE\b/i.test(l));

describe('the shared-ref guard with hostile names', () => {
  const db = useTestDatabase();
  let manifest: Manifest;
  let migrations: string;
  const q = async (sql: string) => (await db().client.query(sql)).rows;
  const victim = async () => Number((await q(`SELECT count(*) AS n FROM public.victim`))[0].n);
  const names = sharedRefNames(CHILD, COLUMN);
  const P = qualified('public', PARENT);
  const C = qualified('public', CHILD);
  const T = ident(TENANT_COLUMN);
  const refusal = (sql: string) => refusalOf(db().client, sql);
  const guardObjects = async () =>
    (
      await db().client.query(
        `SELECT tgname AS o FROM pg_trigger WHERE tgname = ANY($1::text[]) UNION ALL SELECT proname FROM pg_proc WHERE proname = ANY($1::text[]) ORDER BY 1`,
        [[names.functionName, names.triggerName, names.parentFunctionName, names.parentTriggerName]],
      )
    ).rows.map((r) => r.o as string);

  beforeAll(async () => {
    const app = await db().createRole('shhostile_app');
    await q(`
      CREATE TABLE public.victim (id int PRIMARY KEY); INSERT INTO public.victim VALUES (1), (2), (3);
      CREATE TABLE orgs (id integer PRIMARY KEY);
      INSERT INTO orgs VALUES (1), (2);
      CREATE TABLE ${P} (${ident(PARENT_KEY)} integer PRIMARY KEY, ${T} integer REFERENCES orgs, name text NOT NULL);
      CREATE INDEX ON ${P} (${T});
      INSERT INTO ${P} VALUES (1, NULL, 'owner'), (2, 1, 'custom one'), (3, 2, 'custom two');
      CREATE TABLE ${C} (id integer PRIMARY KEY, ${T} integer NOT NULL REFERENCES orgs,
        ${ident(COLUMN)} integer NOT NULL CONSTRAINT ${ident(FK)} REFERENCES ${P});
      CREATE INDEX ON ${C} (${T});
      INSERT INTO ${C} VALUES (1, 1, 1), (2, 1, 2), (3, 2, 1), (4, 2, 3);
      GRANT SELECT, INSERT, UPDATE, DELETE ON orgs, ${P}, ${C} TO ${ident(app)};`);
    const dir = await mkdtemp(path.join(os.tmpdir(), 'crmt-shared-hostile-'));
    manifest = await writeManifest(path.join(dir, 'tenancy.yaml'), {
      schema: 'public',
      tenant: { table: 'orgs', key: 'id', column: TENANT_COLUMN, setting: 'app.org', composite_keys: true },
      roles: { app: [app] },
      tables: { [PARENT]: { shared_rows: true }, [CHILD]: null },
    });
    migrations = path.join(dir, 'migrations');
    await mkdir(migrations);
  });

  it('migrate up and down run exactly the guard; both triggers work and name the key; the audit takes them; down removes them', async () => {
    const live = await resolveLiveContext(db().client, manifest);
    const plan = planTenancy(live, new Set(), await readPlanExtras(db().client, live));
    expect(plan.steps.map(stepId)).toContain(`shared-ref:${CHILD}:${COLUMN}`);
    const files = renderMigrations(live, plan.steps, { firstIndex: 1 });
    for (const f of files) {
      expect(deleteLines(f.text)).toEqual([]);
      expect(f.text).not.toMatch(/[\r\u2028\u2029]/u);
      await writeFile(path.join(migrations, f.fileName), f.text);
    }
    const common = ['--config', manifest.file!, '--database-url', db().url, '--migrations-dir', migrations];
    const up = await runCli(['migrate', ...common, '--json']);
    expect(up.code, up.stdout + up.stderr).toBe(0);
    expect(await victim()).toBe(3);
    expect(await guardObjects()).toEqual([names.functionName, names.parentFunctionName, names.parentTriggerName, names.triggerName].sort());
    // The triggers' arguments are the names, verbatim.
    const args = await db().client.query(`SELECT tgname, tgargs AS a FROM pg_trigger WHERE tgname = ANY($1::text[]) ORDER BY 1`, [
      [names.triggerName, names.parentTriggerName],
    ]);
    expect(Object.fromEntries(args.rows.map((r) => [r.tgname, (r.a as Buffer).toString('utf8').split('\u0000')]))).toEqual({
      [names.triggerName]: ['crm_tenancy.shared_ref', COLUMN, ''],
      [names.parentTriggerName]: ['crm_tenancy.shared_ref_parent', CHILD, COLUMN, ''],
    });

    const what = `public.${CHILD}.${COLUMN} -> public.${PARENT}`;
    expect(await refusal(`INSERT INTO ${C} VALUES (99, 1, 3)`)).toBe(`${what}: 3 is neither a shared row nor a row of the row's own tenant`);
    expect(await refusal(`UPDATE ${P} SET ${T} = 1 WHERE ${ident(PARENT_KEY)} = 1`)).toBe(
      `${what} (${FK}): row 1, now of tenant 1, is referenced by rows of another tenant; it can only be shared (NULL tenant) or theirs`,
    );
    expect(await refusal(`UPDATE ${P} SET ${T} = NULL WHERE ${ident(PARENT_KEY)} = 3; UPDATE ${P} SET ${T} = 2 WHERE ${ident(PARENT_KEY)} = 3`)).toBeNull();

    const r = await runAudit({ databaseUrl: db().url, manifest, only: ['cross-tenant-reference', 'fk-not-tenant-scoped'] });
    expect(r.proofs.find((p) => p.object === FK)).toMatchObject({ status: 'proven' });
    expect(r.findings.filter((f) => f.check === 'fk-not-tenant-scoped')).toEqual([]);
    await q(`ALTER TABLE ${P} DISABLE TRIGGER ${ident(names.parentTriggerName)}`);
    const off = await runAudit({ databaseUrl: db().url, manifest, only: ['cross-tenant-reference', 'fk-not-tenant-scoped'] });
    expect(off.proofs.find((p) => p.object === FK)).toMatchObject({ status: 'scanned' });
    expect(off.findings.filter((f) => f.check === 'fk-not-tenant-scoped').map((f) => f.samples)).toEqual([[FK]]);
    await q(`ALTER TABLE ${P} ENABLE TRIGGER ${ident(names.parentTriggerName)}`);

    const down = await runCli(['migrate', 'down', '--count', String(files.filter((f) => f.phase === 'composite').length), '--force', ...common]);
    expect(down.code, down.stdout + down.stderr).toBe(0);
    expect(await victim()).toBe(3);
    expect(await guardObjects()).toEqual([]);
    expect(await refusal(`UPDATE ${P} SET ${T} = 1 WHERE ${ident(PARENT_KEY)} = 1`)).toBeNull();
  }, 120_000);
});
