// policies apply's event trigger: a partition created or attached later gets RLS and the parent's policies at once (both servers).
import { describe, expect, it } from 'vitest';
import { runAudit } from '../../src/audit/runner.js';
import { applyPolicies, policyStatus } from '../../src/policies/apply.js';
import { partitionTriggerName, syncPartitionTrigger } from '../../src/policies/partition-trigger.js';
import { parseManifestText } from '../../src/config/manifest.js';
import { ident } from '../../src/db/quote.js';
import { runCli } from '../support/cli.js';
import { useTestDatabase } from '../support/database.js';
import { createPartitionedFixture, fixtureManifestText, ORG_A, ORG_B, policyShape } from './fixture.js';

describe('the partition event trigger', () => {
  const db = useTestDatabase();

  it('dry run shows it; apply installs it once; status reports it; EXECUTE is not granted to PUBLIC', async () => {
    const f = await createPartitionedFixture(db(), 'trig_install', { stateSchema: 'trig_state' });
    const dry = await applyPolicies({ client: db().client, manifest: f.manifest, policiesDir: f.policiesDir, dryRun: true });
    expect(dry.partitionTrigger?.status).toBe('would-install');
    expect(dry.partitionTrigger?.sql).toContain('CREATE EVENT TRIGGER "trig_state_secure_partitions" ON ddl_command_end');
    expect(dry.partitionTrigger?.sql).toContain('SET search_path = pg_catalog, pg_temp');
    const none = await db().client.query(`SELECT count(*)::int AS n FROM pg_event_trigger`);
    expect(none.rows[0].n).toBe(0);
    const cli = await runCli(['policies', 'apply', '--dry-run', '--config', f.manifestFile, '--policies-dir', f.policiesDir], { env: { DATABASE_URL: db().url } });
    expect(cli.stdout).toContain('partition trigger trig_state_secure_partitions: would-install');

    const first = await applyPolicies({ client: db().client, manifest: f.manifest, policiesDir: f.policiesDir });
    expect(first.ok).toBe(true);
    expect(first.partitionTrigger?.status).toBe('installed');
    const second = await applyPolicies({ client: db().client, manifest: f.manifest, policiesDir: f.policiesDir });
    expect(second.partitionTrigger?.status).toBe('unchanged');
    expect(second.tables.every((t) => t.status === 'unchanged')).toBe(true);

    const status = await policyStatus({ client: db().client, manifest: f.manifest, policiesDir: f.policiesDir });
    expect(status.partitionTrigger).toMatchObject({
      name: 'trig_state_secure_partitions',
      installed: true,
      enabled: true,
      current: true,
      partitionedTables: ['trig_install.events', 'trig_install.shards', 'trig_install.tickets'],
    });
    const statusCli = await runCli(['policies', 'status', '--config', f.manifestFile, '--policies-dir', f.policiesDir], { env: { DATABASE_URL: db().url } });
    expect(statusCli.stdout).toMatch(/partition trigger trig_state_secure_partitions: installed/);

    const exec = await db().client.query(
      `SELECT p.prosecdef, has_function_privilege($1, p.oid, 'EXECUTE') AS app_can, p.proacl::text AS acl
         FROM pg_proc p WHERE p.oid = 'trig_state.secure_new_partitions'::regproc`,
      [f.app],
    );
    expect(exec.rows[0]).toMatchObject({ prosecdef: false, app_can: false });
    const audit = await runAudit({ client: db().client, manifest: f.manifest, only: ['security-definer-function', 'partition-without-rls'] });
    expect(audit.findings).toEqual([]);
    await db().client.query(`DROP EVENT TRIGGER ${ident(partitionTriggerName('trig_state'))}`);
  });

  it('CREATE … PARTITION OF and ATTACH PARTITION (RANGE, LIST, HASH, sub-partitions, hostile names) are isolated at once', async () => {
    const f = await createPartitionedFixture(db(), 'trig_new');
    const c = db().client;
    const applied = await applyPolicies({ client: c, manifest: f.manifest, policiesDir: f.policiesDir });
    expect(applied.ok).toBe(true);
    const parentShape = (await policyShape(c, f.q('events'))) as { policies: unknown[] };
    expect(parentShape.policies).toHaveLength(1);

    const weird = 'ev "2026;02\u00e9';
    await c.query(`CREATE TABLE ${f.q(weird)} PARTITION OF ${f.q('events')} FOR VALUES FROM ('2026-02-01') TO ('2026-03-01')`);
    // ATTACH: a table created on its own (as pg_partman does), rows already in it, grants of its own.
    await c.query(`CREATE TABLE ${f.q('events_2026_03')} (LIKE ${f.q('events')})`);
    await c.query(`INSERT INTO ${f.q('events_2026_03')} VALUES ('${ORG_A}', 'a', '2026-03-02'), ('${ORG_B}', 'b', '2026-03-03')`);
    await c.query(`GRANT SELECT ON ${f.q('events_2026_03')} TO ${ident(f.app)}`);
    await c.query(`ALTER TABLE ${f.q('events')} ATTACH PARTITION ${f.q('events_2026_03')} FOR VALUES FROM ('2026-03-01') TO ('2026-04-01')`);
    await c.query(`CREATE TABLE ${f.q('tickets_us')} PARTITION OF ${f.q('tickets')} FOR VALUES IN ('us') PARTITION BY HASH (id)`);
    await c.query(`CREATE TABLE ${f.q('tickets_us_0')} PARTITION OF ${f.q('tickets_us')} FOR VALUES WITH (MODULUS 1, REMAINDER 0)`);
    await c.query(`CREATE TABLE ${f.q('tickets_rest')} PARTITION OF ${f.q('tickets')} DEFAULT`);
    await c.query(`INSERT INTO ${f.q('events')} VALUES ('${ORG_A}', 'a', '2026-02-02'), ('${ORG_B}', 'b', '2026-02-03')`);
    await c.query(`INSERT INTO ${f.q('tickets')} VALUES (3, '${ORG_A}', 'us'), (4, '${ORG_B}', 'us'), (5, '${ORG_A}', 'jp'), (6, '${ORG_B}', 'jp')`);

    for (const part of [weird, 'events_2026_03', 'tickets_us', 'tickets_us_0', 'tickets_rest']) {
      const parent = part.startsWith('tickets') ? 'tickets' : 'events';
      expect(await policyShape(c, f.q(part))).toEqual(await policyShape(c, f.q(parent)));
      // what pg_partman does: the parent's grants on the new partition
      await c.query(`GRANT SELECT ON ${f.q(part)} TO ${ident(f.app)}`);
      expect(await f.visibleTo(ORG_A, f.q(part))).toEqual([ORG_A]);
      expect(await f.visibleTo(ORG_B, f.q(part))).toEqual([ORG_B]);
    }
    // A secured partition changed later is drift for the audit and policies diff, not hidden by the trigger.
    await c.query(`ALTER TABLE ${f.q('events_2026_03')} NO FORCE ROW LEVEL SECURITY`);
    expect(await policyShape(c, f.q('events_2026_03'))).toMatchObject({ relrowsecurity: true, relforcerowsecurity: false });
    await c.query(`ALTER TABLE ${f.q('events_2026_03')} FORCE ROW LEVEL SECURITY`);
    // An attached table with a look-alike policy of the same name is secured all the same.
    await c.query(`CREATE TABLE ${f.q('events_2026_04')} (LIKE ${f.q('events')})`);
    await c.query(`CREATE POLICY tenant_isolation ON ${f.q('events_2026_04')} USING (true)`);
    await c.query(`ALTER TABLE ${f.q('events')} ATTACH PARTITION ${f.q('events_2026_04')} FOR VALUES FROM ('2026-04-01') TO ('2026-05-01')`);
    expect(await policyShape(c, f.q('events_2026_04'))).toEqual(await policyShape(c, f.q('events')));
    // Re-running the same kind of DDL changes nothing (no duplicate policies, no errors).
    await c.query(`ALTER TABLE ${f.q('events')} ADD COLUMN source text`);
    expect(await policyShape(c, f.q('events_2026_03'))).toEqual(await policyShape(c, f.q('events')));
    // Fired by a role that is no superuser (EXECUTE is revoked from PUBLIC, yet the trigger runs, as
    // that role): the owner of a scoped table adds a partition; any role's temp table is unaffected.
    const owner = await db().createRole('owner');
    await c.query(`GRANT CREATE, USAGE ON SCHEMA ${ident(f.schema)} TO ${ident(owner)}; ALTER TABLE ${f.q('tickets')} OWNER TO ${ident(owner)}`);
    await c.query(`SET ROLE ${ident(owner)}`);
    try {
      await c.query(`CREATE TABLE ${f.q('tickets_fr')} PARTITION OF ${f.q('tickets')} FOR VALUES IN ('fr')`);
      await c.query(`CREATE TEMP TABLE scratch (a int)`);
      const mine = await c.query(`SELECT relowner::regrole::text AS o FROM pg_class WHERE oid = $1::regclass`, [f.q('tickets_fr')]);
      expect(mine.rows[0].o).toBe(owner);
    } finally {
      await c.query('RESET ROLE');
    }
    expect(await policyShape(c, f.q('tickets_fr'))).toEqual(await policyShape(c, f.q('tickets')));
    await c.query(`DROP TABLE pg_temp.scratch`);
    // The policy files still match (policies diff runs each file with the trigger muted).
    const again = await applyPolicies({ client: c, manifest: f.manifest, policiesDir: f.policiesDir });
    expect(again.partitionTrigger?.status).toBe('unchanged');
    const audit = await runAudit({ client: c, manifest: f.manifest, only: ['partition-without-rls', 'security-definer-function'] });
    expect(audit.findings).toEqual([]);
    await c.query(`DROP EVENT TRIGGER ${ident(partitionTriggerName('crm_tenancy'))}`);
  });

  it('a role that may not create event triggers gets `failed` with what to do (apply exits 1), not an exception', async () => {
    const f = await createPartitionedFixture(db(), 'trig_nosu', { stateSchema: 'nosu_state' });
    await db().client.query(`CREATE SCHEMA nosu_state`);
    const role = await db().createRole('nosu');
    await db().client.query(`GRANT CREATE, USAGE ON SCHEMA nosu_state TO ${ident(role)}`);
    const other = await db().connect(db().urlFor(role));
    const outcome = await syncPartitionTrigger(other, f.manifest, { dryRun: false, lockTimeoutMs: 500 });
    expect(outcome.status).toBe('failed');
    expect(outcome.reason).toMatch(/only a superuser may create event triggers; run `policies apply` as one, or set tenant.partition_trigger: false/);
    expect((await db().client.query(`SELECT count(*)::int AS n FROM pg_event_trigger`)).rows[0].n).toBe(0);
    expect((await db().client.query(`SELECT to_regproc('nosu_state.secure_new_partitions') AS f`)).rows[0].f).toBeNull();
  });

  it('opted out (partition_trigger: false): apply removes it, and a new partition is readable across tenants — the hole it closes', async () => {
    const f = await createPartitionedFixture(db(), 'trig_off', { stateSchema: 'off_state' });
    const c = db().client;
    expect((await applyPolicies({ client: c, manifest: f.manifest, policiesDir: f.policiesDir })).partitionTrigger?.status).toBe('installed');
    const off = parseManifestText(fixtureManifestText(f.schema, f.app, { partitionTrigger: false, stateSchema: 'off_state' }));
    const removed = await applyPolicies({ client: c, manifest: off, policiesDir: f.policiesDir });
    expect(removed.partitionTrigger?.status).toBe('removed');
    expect((await c.query(`SELECT count(*)::int AS n FROM pg_event_trigger`)).rows[0].n).toBe(0);
    expect((await policyStatus({ client: c, manifest: off, policiesDir: f.policiesDir })).partitionTrigger).toMatchObject({ wanted: false, installed: false });

    await c.query(`CREATE TABLE ${f.q('events_2026_02')} PARTITION OF ${f.q('events')} FOR VALUES FROM ('2026-02-01') TO ('2026-03-01')`);
    await c.query(`INSERT INTO ${f.q('events')} VALUES ('${ORG_A}', 'a', '2026-02-02'), ('${ORG_B}', 'b', '2026-02-03')`);
    await c.query(`GRANT SELECT ON ${f.q('events_2026_02')} TO ${ident(f.app)}`);
    expect(await f.visibleTo(ORG_A, f.q('events_2026_02'))).toEqual([ORG_A, ORG_B]);
    const audit = await runAudit({ client: c, manifest: off, only: ['partition-without-rls'] });
    expect(audit.findings.map((x) => x.object)).toEqual(['trig_off.events_2026_02']);
  });
});
