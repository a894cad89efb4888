// The polymorphic pair's trigger with hostile column names: a type and an id column whose names hold
// quotes, dollar tags, comment markers, format codes and a non-ASCII letter (the manifest refuses
// control characters in the names it holds), through the real migrate. The trigger must run, accept a
// row whose target is its own tenant's and refuse one whose target is another tenant's or whose type
// names no target; a victim table keeps its rows. A row that references nothing (NULL type and id) is
// fine for the trigger and for migrate's preflight alike (the preflight once counted it as
// cross-tenant and refused the validate phase of any table with an optional pair).
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { resolveLiveContext } from '../../src/config/live-context.js';
import type { Manifest } from '../../src/config/manifest.js';
import { ident } from '../../src/db/quote.js';
import { readPlanExtras } from '../../src/migrate/plan-extras.js';
import { planTenancy, stepId } from '../../src/migrate/plan.js';
import { renderMigrations } from '../../src/migrate/render.js';
import { runCli } from '../support/cli.js';
import { useTestDatabase } from '../support/database.js';
import { refusal as refusalOf } from '../support/refusal.js';
import { writeManifest } from '../verify/fixture.js';

const TYPE = `subject"type $fn$ */ é`;
const ID = `subject'id %s -- Down Migration DELETE FROM public.victim; --`;
const deleteLines = (text: string): string[] => text.split(/\r\n|[\n\r\u2028\u2029]/u).filter((l) => /^\s*DELETE\b/i.test(l));

describe('the polymorphic trigger with hostile column names', () => {
  const db = useTestDatabase();
  let manifest: Manifest;
  let migrations: string;
  const q = async (sql: string) => (await db().client.query(sql)).rows;
  const refusal = (sql: string) => refusalOf(db().client, sql);

  beforeAll(async () => {
    const app = await db().createRole('polyhostile_app');
    await q(`
      CREATE TABLE public.victim (id int PRIMARY KEY); INSERT INTO public.victim VALUES (1), (2), (3);
      CREATE TABLE orgs (id integer PRIMARY KEY);
      INSERT INTO orgs VALUES (1), (2);
      CREATE TABLE invoices (id integer PRIMARY KEY, org_id integer NOT NULL REFERENCES orgs);
      INSERT INTO invoices VALUES (10, 1), (20, 2);
      CREATE TABLE events (id integer PRIMARY KEY, org_id integer NOT NULL REFERENCES orgs, ${ident(TYPE)} text, ${ident(ID)} integer);
      INSERT INTO events VALUES (1, 1, 'Invoice', 10), (2, 2, 'Invoice', 20), (3, 1, NULL, NULL);
      GRANT SELECT, INSERT, UPDATE, DELETE ON orgs, invoices, events TO ${ident(app)};`);
    const dir = await mkdtemp(path.join(os.tmpdir(), 'crmt-poly-hostile-'));
    manifest = await writeManifest(path.join(dir, 'tenancy.yaml'), {
      schema: 'public',
      tenant: { table: 'orgs', key: 'id', column: 'org_id', setting: 'app.org' },
      roles: { app: [app] },
      tables: { invoices: null, events: { polymorphic: [{ type: TYPE, id: ID, targets: { Invoice: 'invoices' } }] } },
    });
    migrations = path.join(dir, 'migrations');
    await mkdir(migrations);
  });

  it('migrate (a row referencing nothing does not stop it) writes a trigger that runs: own-tenant target accepted, another tenant’s or no target refused', async () => {
    const live = await resolveLiveContext(db().client, manifest);
    const plan = planTenancy(live, new Set(), await readPlanExtras(db().client, live));
    expect(plan.steps.map(stepId).some((s) => s.startsWith('polymorphic:'))).toBe(true);
    const files = renderMigrations(live, plan.steps, { firstIndex: 1 });
    for (const f of files) {
      expect(deleteLines(f.text)).toEqual([]);
      await writeFile(path.join(migrations, f.fileName), f.text);
    }
    const up = await runCli(['migrate', '--config', manifest.file!, '--database-url', db().url, '--migrations-dir', migrations, '--json']);
    expect(up.code, up.stdout + up.stderr).toBe(0);
    expect(Number((await q('SELECT count(*) AS n FROM public.victim'))[0].n)).toBe(3);
    const cols = `(id, org_id, ${ident(TYPE)}, ${ident(ID)})`;
    expect(await refusal(`INSERT INTO events ${cols} VALUES (4, 1, 'Invoice', 10)`)).toBeNull();
    expect(await refusal(`INSERT INTO events ${cols} VALUES (5, 1, 'Invoice', 20)`)).toMatch(/no Invoice row with id 20 in the row's own tenant/);
    expect(await refusal(`INSERT INTO events ${cols} VALUES (6, 1, 'Refund', 10)`)).toMatch(/type 'Refund' names no target \(id 10\)/);
    expect(await refusal(`UPDATE events SET ${ident(ID)} = 20 WHERE id = 1`)).toMatch(/no Invoice row with id 20/);
  }, 120_000);
});
