// undo's preflight, each kind of constraint planted by hand and then lifted (two-sided): a CHECK
// (NOT VALID), a foreign key into the table whose referenced value the undo changes, and an error
// no check models (a trigger raising check_violation, caught under a savepoint). None was made by a
// migration: the refusal says to fix the rows or the constraint by hand.
import { beforeAll, describe, expect, it } from 'vitest';
import { parseManifestText, type Manifest } from '../../src/config/manifest.js';
import { runBackfill } from '../../src/backfill/backfill-runner.js';
import { undoRun } from '../../src/undo/undo-runner.js';
import { useTestDatabase } from '../support/database.js';
import { tableChecksums } from '../backfill/helpers.js';

const MANIFEST = `schema: pf
state_schema: pf_state
tenant:
  table: tenants
  key: id
  column: tenant_id
  setting: app.tenant_id
roles:
  app: [app_user]
tables:
  parents: {}
  kids:
    backfill: [parent_id]
`;

describe('undo preflight: CHECK, referenced keys, errors caught at the step', () => {
  const db = useTestDatabase();
  let manifest: Manifest;
  let runId: string;
  const undo = (dryRun = true) => undoRun({ databaseUrl: db().url, manifest, runId, dryRun, migrationsDir: '/nonexistent' });

  beforeAll(async () => {
    await db().client.query(`
      CREATE SCHEMA pf;
      CREATE TABLE pf.tenants (id int PRIMARY KEY);
      INSERT INTO pf.tenants VALUES (1), (2);
      CREATE TABLE pf.parents (id int PRIMARY KEY, tenant_id int REFERENCES pf.tenants);
      INSERT INTO pf.parents VALUES (1, 1), (2, 2);
      CREATE TABLE pf.kids (id int PRIMARY KEY, tenant_id int REFERENCES pf.tenants, parent_id int REFERENCES pf.parents);
      INSERT INTO pf.kids (id, parent_id) VALUES (1, 1), (2, 2), (3, 1);`);
    manifest = parseManifestText(MANIFEST);
    const run = await runBackfill({ databaseUrl: db().url, manifest });
    runId = run.runId!;
    expect(run.tables.find((t) => t.table === 'kids')?.filled).toBe(3);
  });

  it('a CHECK added NOT VALID since the run: refused naming it (no migration made it); dropped: the undo runs', async () => {
    const c = db().client;
    const before = await tableChecksums(c, 'pf');
    await c.query(`ALTER TABLE pf.kids ADD CONSTRAINT kids_tenant_set CHECK (tenant_id IS NOT NULL) NOT VALID`);
    const refused = await undo(false);
    expect(refused.ok).toBe(false);
    expect(refused.refused).toEqual([
      expect.objectContaining({ kind: 'check', table: 'pf.kids', constraint: 'kids_tenant_set', count: 3, samples: [{ id: 1 }, { id: 2 }, { id: 3 }] }),
    ]);
    expect(refused.refused[0].migration).toBeUndefined();
    expect(refused.stepBack).toBeUndefined();
    expect(await tableChecksums(c, 'pf')).toEqual(before);
    await c.query(`ALTER TABLE pf.kids DROP CONSTRAINT kids_tenant_set`);
    const fine = await undo();
    expect(fine.refused).toEqual([]);
    expect(fine.restored).toBe(3);
  });

  it('rows of another table reference (tenant_id, id) of the rows the undo changes: refused; those rows gone: it runs', async () => {
    const c = db().client;
    await c.query(`
      ALTER TABLE pf.kids ADD CONSTRAINT kids_tenant_id_id_key UNIQUE (tenant_id, id);
      CREATE TABLE pf.toys (id int PRIMARY KEY, tenant_id int, kid_id int, FOREIGN KEY (tenant_id, kid_id) REFERENCES pf.kids (tenant_id, id));
      INSERT INTO pf.toys VALUES (1, 2, 2);`);
    const refused = await undo();
    expect(refused.refused).toEqual([
      expect.objectContaining({ kind: 'referenced', table: 'pf.kids', constraint: 'toys_tenant_id_kid_id_fkey', columns: ['tenant_id', 'id'], count: 1, samples: [{ id: 2 }] }),
    ]);
    await c.query(`DELETE FROM pf.toys`);
    expect((await undo()).refused).toEqual([]);
  });

  it('a trigger raising check_violation (no check models it): caught at the step, refused with its message; trigger dropped: it runs', async () => {
    const c = db().client;
    await c.query(`
      CREATE FUNCTION pf.keep_tenant() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.tenant_id IS NULL THEN RAISE EXCEPTION 'kids keep their tenant' USING ERRCODE = 'check_violation'; END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER keep_tenant BEFORE UPDATE ON pf.kids FOR EACH ROW EXECUTE FUNCTION pf.keep_tenant();`);
    const before = await tableChecksums(c, 'pf');
    const refused = await undo(false);
    expect(refused.refused).toEqual([expect.objectContaining({ kind: 'other', table: 'pf.kids', count: 0, detail: 'kids keep their tenant' })]);
    expect(await tableChecksums(c, 'pf')).toEqual(before);
    await c.query(`DROP TRIGGER keep_tenant ON pf.kids`);
    const done = await undo(false);
    expect(done.ok).toBe(true);
    expect((await c.query(`SELECT count(*)::int AS n FROM pf.kids WHERE tenant_id IS NULL`)).rows[0].n).toBe(3);
  });
});
