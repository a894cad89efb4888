// unknown-tenant: rows whose tenant value names no tenant; proven by a validated FK, scanned without one (or NOT VALID, or --deep); two-sided.
import { beforeAll, describe, expect, it } from 'vitest';
import { runAudit } from '../../src/audit/runner.js';
import { useTestDatabase } from '../support/database.js';
import { check, fixture, type Fixture } from './check-helpers.js';

describe('unknown-tenant', () => {
  const db = useTestDatabase();
  let f: Fixture;
  const sql = (text: string) => db().client.query(text);
  const ID = 'unknown-tenant';

  beforeAll(async () => {
    f = await fixture(db().client, (p, a) => db().createRole(p, a), { tables: ['notes', 'imports'] });
    await sql(`
      INSERT INTO ${f.q('tenants')} VALUES (1, 'one'), (2, 'two');
      INSERT INTO ${f.q('notes')} VALUES (1, 1, 'a'), (2, 2, 'b');
      ALTER TABLE ${f.q('imports')} DROP CONSTRAINT imports_tenant_id_fkey;
      INSERT INTO ${f.q('imports')} VALUES (1, 1, 'ok'), (2, 99, 'orphan'), (3, 98, 'orphan');
    `);
  });

  it('reports the rows of a table without a foreign key to the tenant table, with samples (key, tenant); proves the others', async () => {
    const found = await check(db().url, f.manifest(), ID);
    expect(found.map((x) => [x.severity, x.table, x.samples.length])).toEqual([['error', `${f.schema}.imports`, 2]]);
    expect(found[0].message).toBe(`2 rows of ${f.schema}.imports name a tenant_id that is not in tenants (no foreign key from tenant_id to tenants)`);
    expect(found[0].samples).toEqual(expect.arrayContaining([[98, 3, '98']]));
    const result = await runAudit({ databaseUrl: db().url, manifest: f.manifest(), only: [ID] });
    expect(result.proofs.filter((p) => p.check === ID).map((p) => [p.table, p.status])).toEqual([
      ['notes', 'proven'],
      ['imports', 'scanned'],
    ]);
  });

  it('a NOT VALID foreign key proves nothing (still scanned and found); the rows fixed and the key validated, it is silent and proven', async () => {
    await sql(`ALTER TABLE ${f.q('imports')} ADD CONSTRAINT imports_tenant_fk FOREIGN KEY (tenant_id) REFERENCES ${f.q('tenants')} (id) NOT VALID`);
    const found = await check(db().url, f.manifest(), ID);
    expect(found.map((x) => x.message)).toEqual([`2 rows of ${f.schema}.imports name a tenant_id that is not in tenants (its foreign key imports_tenant_fk to tenants is NOT VALID)`]);
    await sql(`UPDATE ${f.q('imports')} SET tenant_id = 2 WHERE tenant_id > 2; ALTER TABLE ${f.q('imports')} VALIDATE CONSTRAINT imports_tenant_fk`);
    expect(await check(db().url, f.manifest(), ID)).toEqual([]);
    const deep = await runAudit({ databaseUrl: db().url, manifest: f.manifest(), only: [ID], deep: true });
    expect(deep.findings).toEqual([]);
    expect(deep.proofs.filter((p) => p.check === ID).map((p) => p.status)).toEqual(['scanned', 'scanned']);
  });
});
