// pg_partman end to end: partitions that run_maintenance() creates after `policies apply` are isolated at once (skipped where pg_partman is missing).
// This is the small fixture (RANGE/LIST/HASH tables); the SaaS fixture's real event table, after the whole
// playbook from init's draft, is test/e2e/saas-from-init.test.ts.
import { describe, expect, it } from 'vitest';
import { runAudit } from '../../src/audit/runner.js';
import { resolveLiveContext } from '../../src/config/live-context.js';
import { ident } from '../../src/db/quote.js';
import { applyPolicies } from '../../src/policies/apply.js';
import { partitionTriggerName } from '../../src/policies/partition-trigger.js';
import { writePolicyFiles } from '../../src/policies/policy-files.js';
import { serverLabel, useTestDatabase } from '../support/database.js';
import { availableExtension } from '../support/extensions.js';
import { createPartitionedFixture, ORG_A, ORG_B } from './fixture.js';

const version = await availableExtension('pg_partman');
const reason = `pg_partman is not installed on ${serverLabel()} (apt-get install postgresql-<major>-partman; the embedded server has none)`;
if (!version) console.warn(`test/partitions/pg-partman.test.ts skipped: ${reason}`);

describe(`pg_partman ${version ?? '(missing)'}`, () => {
  const db = useTestDatabase();

  it.skipIf(!version)(`run_maintenance() after policies apply: each new partition is isolated at once${version ? '' : ` — SKIPPED: ${reason}`}`, async () => {
    const c = db().client;
    const f = await createPartitionedFixture(db(), 'pm');
    await c.query(`CREATE SCHEMA partman; CREATE EXTENSION pg_partman SCHEMA partman`);
    const major = Number(version!.split('.')[0]);
    // The table is handed to pg_partman before the rollout (as in the field): premade monthly partitions and a default.
    await c.query(
      major >= 5
        ? `SELECT partman.create_parent(p_parent_table => 'pm.events', p_control => 'created_at', p_interval => '1 month', p_premake => 2, p_start_partition => '2026-02-01')`
        : `SELECT partman.create_parent(p_parent_table => 'pm.events', p_control => 'created_at', p_type => 'native', p_interval => 'monthly', p_premake => 2, p_start_partition => '2026-02-01')`,
    );
    // pg_partman copies the parent's grants onto every partition it creates: the window this closes.
    // (infinite_time_partitions: premake ahead of now even though no newer rows arrived.)
    await c.query(`UPDATE partman.part_config SET inherit_privileges = true, infinite_time_partitions = true WHERE parent_table = 'pm.events'`);
    const partitions = async () =>
      (await c.query<{ name: string; bound: string }>(
        `SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
          WHERE i.inhparent = 'pm.events'::regclass ORDER BY 1`,
      )).rows;
    expect((await partitions()).length).toBeGreaterThan(3);

    // The rollout's policy step: files for the table and its partitions, then apply (installs the trigger).
    await writePolicyFiles({ live: await resolveLiveContext(c, f.manifest), dir: f.policiesDir });
    const applied = await applyPolicies({ client: c, manifest: f.manifest, policiesDir: f.policiesDir });
    expect(applied.ok).toBe(true);
    expect(applied.partitionTrigger?.status).toBe('installed');
    expect((await runAudit({ client: c, manifest: f.manifest, only: ['partition-without-rls'] })).findings).toEqual([]);

    const maintain = async (premake: number) => {
      const before = new Set((await partitions()).map((p) => p.name));
      await c.query(`UPDATE partman.part_config SET premake = $1 WHERE parent_table = 'pm.events'`, [premake]);
      await c.query(`SELECT partman.run_maintenance()`);
      const created = (await partitions()).filter((p) => !before.has(p.name));
      expect(created.length).toBeGreaterThan(0);
      const newest = created[created.length - 1];
      const from = /FROM \('([^']+)'\)/.exec(newest.bound)![1];
      await c.query(`INSERT INTO pm.events VALUES ($1, 'a', $3), ($2, 'b', $3)`, [ORG_A, ORG_B, from]);
      const grant = await c.query(`SELECT has_table_privilege($1, $2, 'SELECT') AS g`, [f.app, `pm.${ident(newest.name)}`]);
      expect(grant.rows[0].g).toBe(true);
      return newest.name;
    };

    const secured = await maintain(6);
    expect(await f.visibleTo(ORG_A, f.q(secured))).toEqual([ORG_A]);
    expect(await f.visibleTo(ORG_B, f.q(secured))).toEqual([ORG_B]);
    expect((await runAudit({ client: c, manifest: f.manifest, only: ['partition-without-rls'] })).findings).toEqual([]);

    // Two-sided: without the trigger, the next maintenance run opens the hole the issue reported.
    await c.query(`DROP EVENT TRIGGER ${ident(partitionTriggerName(f.manifest.stateSchema))}`);
    const open = await maintain(9);
    expect(await f.visibleTo(ORG_A, f.q(open))).toEqual([ORG_A, ORG_B]);
    const findings = (await runAudit({ client: c, manifest: f.manifest, only: ['partition-without-rls'] })).findings;
    expect(findings.map((x) => x.object)).toContain(`pm.${open}`);
  });
});
