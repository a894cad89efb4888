// verify's new-partition probe: proves a partition created now is isolated (trigger installed), fails without the trigger.
import { describe, expect, it } from 'vitest';
import { parseManifestText } from '../../src/config/manifest.js';
import { ident } from '../../src/db/quote.js';
import { applyPolicies } from '../../src/policies/apply.js';
import { partitionTriggerName } from '../../src/policies/partition-trigger.js';
import { verifyIsolation } from '../../src/verify/verify.js';
import { useTestDatabase } from '../support/database.js';
import { createPartitionedFixture, fixtureManifestText } from './fixture.js';

describe('verify: new-partition', () => {
  const db = useTestDatabase();

  it('RANGE, LIST and HASH: pass with the trigger; FAIL without it; reported when opted out; nothing is left behind', async () => {
    const c = db().client;
    const f = await createPartitionedFixture(db(), 'vp');
    expect((await applyPolicies({ client: c, manifest: f.manifest, policiesDir: f.policiesDir })).ok).toBe(true);
    const tree = async () =>
      (await c.query(`SELECT c.relname, c.relispartition FROM pg_class c WHERE c.relnamespace = 'vp'::regnamespace AND c.relkind IN ('r', 'p') ORDER BY 1`)).rows;
    const before = await tree();
    const probe = async (manifest = f.manifest) =>
      (await verifyIsolation({ client: c, manifest })).probes
        .filter((p) => p.probe === 'new-partition')
        .map((p) => `${p.table} ${p.status}`);

    expect(await probe()).toEqual(['vp.events pass', 'vp.tickets pass', 'vp.shards pass']);
    const detail = (await verifyIsolation({ client: c, manifest: f.manifest })).probes.find((p) => p.probe === 'new-partition' && p.table === 'vp.shards')!.detail;
    expect(detail).toMatch(/FOR VALUES WITH \(modulus 2, remainder [01]\)/);
    expect(detail).toContain('row-level security (forced) and 1 policy');
    expect(await tree()).toEqual(before);

    await c.query(`DROP EVENT TRIGGER ${ident(partitionTriggerName(f.manifest.stateSchema))}`);
    const without = await verifyIsolation({ client: c, manifest: f.manifest });
    expect(without.probes.filter((p) => p.probe === 'new-partition').map((p) => `${p.table} ${p.status}`)).toEqual([
      'vp.events fail',
      'vp.tickets fail',
      'vp.shards fail',
    ]);
    expect(without.ok).toBe(false);
    expect(without.failures.find((x) => x.probe === 'new-partition')!.detail).toMatch(/NO row-level security and 0 policies; .* reads 1 row\(s\) of tenant/);
    const off = parseManifestText(fixtureManifestText(f.schema, f.app, { partitionTrigger: false }));
    expect(await probe(off)).toEqual(['vp.events reported', 'vp.tickets reported', 'vp.shards reported']);

    // A partitioned table without any partition: the probe makes its only one (HASH: MODULUS 1).
    expect((await applyPolicies({ client: c, manifest: f.manifest, policiesDir: f.policiesDir })).partitionTrigger?.status).toBe('installed');
    await c.query(`ALTER TABLE vp.shards DETACH PARTITION vp.shards_0; ALTER TABLE vp.shards DETACH PARTITION vp.shards_1`);
    const empty = (await verifyIsolation({ client: c, manifest: f.manifest })).probes.find((p) => p.probe === 'new-partition' && p.table === 'vp.shards')!;
    expect([empty.status, empty.detail]).toEqual(['pass', expect.stringContaining('MODULUS 1, REMAINDER 0')]);
    await c.query(`DROP EVENT TRIGGER ${ident(partitionTriggerName(f.manifest.stateSchema))}`);
    expect((await verifyIsolation({ client: c, manifest: f.manifest })).probes.find((p) => p.probe === 'new-partition' && p.table === 'vp.shards')!.status).toBe('fail');
    expect(await tree()).toEqual(before.map((r) => (r.relname.startsWith('shards_') ? { ...r, relispartition: false } : r)));
  });
});
