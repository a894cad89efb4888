// The SaaS fixture's partitioned, keyless events table: backfill skips it with a note, the trigger secures a new month, verify proves it.
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runBackfill } from '../../src/backfill/backfill-runner.js';
import { resolveLiveContext } from '../../src/config/live-context.js';
import { parseManifestText } from '../../src/config/manifest.js';
import { ident } from '../../src/db/quote.js';
import { applyPolicies } from '../../src/policies/apply.js';
import { writePolicyFiles } from '../../src/policies/policy-files.js';
import { loadSampleSaas } from '../../src/sample/sample-saas.js';
import { verifyIsolation } from '../../src/verify/verify.js';
import { useTestDatabase } from '../support/database.js';

describe('the SaaS fixture: events', () => {
  const db = useTestDatabase();

  it('backfill skips it with a note; after policies apply a new monthly partition is isolated at once; verify new-partition passes', async () => {
    const c = db().client;
    await loadSampleSaas(c, { scale: 1, modules: 0, schema: 'saas' });
    const app = await db().createRole('app');
    const manifest = parseManifestText(
      `schema: saas\ntenant: {table: organizations, key: id, column: organization_id, setting: app.current_organization_id}\nroles: {app: [${JSON.stringify(app)}]}\ntables:\n  events: {}\n`,
    );
    const backfill = await runBackfill({ client: c, manifest });
    expect(backfill.skippedTables).toEqual([{ table: 'events', reason: expect.stringContaining('saas.events has no primary key and organization_id is NOT NULL: nothing to fill') }]);
    expect(backfill.ok).toBe(true);

    const policiesDir = path.join(await mkdtemp(path.join(os.tmpdir(), 'crmt-saas-')), 'policies');
    await writePolicyFiles({ live: await resolveLiveContext(c, manifest), dir: policiesDir });
    const applied = await applyPolicies({ client: c, manifest, policiesDir });
    expect(applied.ok).toBe(true);
    expect(applied.partitionTrigger?.status).toBe('installed');

    await c.query(`CREATE TABLE saas.events_p2027_01 PARTITION OF saas.events FOR VALUES FROM ('2027-01-01') TO ('2027-02-01')`);
    await c.query(`GRANT SELECT ON saas.events_p2027_01 TO ${ident(app)}`);
    const orgs = (await c.query<{ id: string }>(`SELECT id::text FROM saas.organizations ORDER BY name LIMIT 2`)).rows.map((r) => r.id);
    await c.query(`INSERT INTO saas.events (organization_id, name, created_at) VALUES ($1, 'a', '2027-01-02'), ($2, 'b', '2027-01-03')`, orgs);
    await c.query('BEGIN');
    try {
      await c.query(`SET LOCAL ROLE ${ident(app)}`);
      await c.query(`SELECT set_config('app.current_organization_id', $1, true)`, [orgs[0]]);
      const seen = await c.query(`SELECT organization_id::text AS o FROM saas.events_p2027_01`);
      expect(seen.rows).toEqual([{ o: orgs[0] }]);
    } finally {
      await c.query('ROLLBACK');
    }

    const verify = await verifyIsolation({ client: c, manifest });
    expect(verify.probes.filter((p) => p.probe === 'new-partition').map((p) => [p.table, p.status])).toEqual([['saas.events', 'pass']]);
  });
});
