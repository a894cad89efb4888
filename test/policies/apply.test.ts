// policies apply / diff / status on the sample CRM after the rollout: idempotence, role checks, drift, CLI exit codes.
import { appendFile, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseManifestText } from '../../src/config/manifest.js';
import { ident } from '../../src/db/quote.js';
import { applyPolicies, policyDiff, policyStatus } from '../../src/policies/apply.js';
import { repoRoot, runCli } from '../support/cli.js';
import { useTestDatabase } from '../support/database.js';
import { dropCreatedRoles, rollOut, sampleManifestText, type RolledOut } from './fixture.js';

describe('policies apply / diff / status', () => {
  const db = useTestDatabase({ sample: true });
  let r: RolledOut;
  beforeAll(async () => {
    r = await rollOut(db());
  });

  it('applies every file once, then nothing (checksums recorded)', async () => {
    const first = await applyPolicies({ client: db().client, manifest: r.manifest, policiesDir: r.policiesDir });
    expect(first.refusals).toEqual([]);
    expect(first.rolesCreated).toEqual([]);
    expect(first.tables).toHaveLength(28);
    expect(first.tables.every((t) => t.status === 'applied')).toBe(true);
    const second = await applyPolicies({ client: db().client, manifest: r.manifest, policiesDir: r.policiesDir });
    expect(second.tables.every((t) => t.status === 'unchanged')).toBe(true);
    const { rows } = await db().client.query(
      `SELECT count(*)::int AS n, bool_and(relrowsecurity AND relforcerowsecurity) AS forced
         FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relname = ANY($1::text[])`,
      [['companies', ...r.manifest.tables.map((t) => t.name)]],
    );
    expect(rows[0]).toEqual({ n: 28, forced: true });
    const recorded = await db().client.query(`SELECT count(*)::int AS n FROM crm_tenancy.policy_files`);
    expect(recorded.rows[0].n).toBe(28);
  });

  it('the generated predicate is read once (InitPlan) and usable by the tenant index; a volatile one is not', async () => {
    const c = db().client;
    const plan = async () => {
      await c.query('BEGIN');
      try {
        await c.query(`SET LOCAL enable_seqscan = off`);
        await c.query(`SET LOCAL ROLE ${ident(r.app)}`);
        await c.query(`SELECT set_config('app.current_company_id', '2', true)`);
        const { rows } = await c.query(`EXPLAIN (COSTS OFF) SELECT * FROM activities`);
        return rows.map((x) => x['QUERY PLAN']).join('\n');
      } finally {
        await c.query('ROLLBACK');
      }
    };
    const good = await plan();
    expect(good).toContain('InitPlan');
    // PostgreSQL 15 prints the InitPlan's output as $0, 17 as (InitPlan 1).col1.
    const initPlanCond = /Index Cond: \(company_id = (\$0|\(InitPlan 1\)\.col1)\)/;
    expect(good).toMatch(initPlanCond);
    // Two-sided: the naive per-row function call cannot use the index.
    await c.query(`CREATE FUNCTION naive_tenant() RETURNS integer LANGUAGE plpgsql VOLATILE AS $$ BEGIN RETURN 2; END $$`);
    await c.query(`ALTER POLICY tenant_isolation ON activities USING (company_id = naive_tenant())`);
    const bad = await plan();
    expect(bad).not.toMatch(/Index Cond: \(company_id/);
    expect(bad).toMatch(/Filter: \(company_id = naive_tenant\(\)\)/);
    await applyPolicies({ client: c, manifest: r.manifest, policiesDir: r.policiesDir }); // restores the file's policy
    await c.query(`DROP FUNCTION naive_tenant()`);
    expect(await plan()).toMatch(initPlanCond);
  });

  it('re-applies only the file that changed', async () => {
    await appendFile(path.join(r.policiesDir, 'deals.sql'), '\n-- reviewed by the DBA\n');
    const result = await applyPolicies({ client: db().client, manifest: r.manifest, policiesDir: r.policiesDir });
    expect(result.tables.filter((t) => t.status === 'applied').map((t) => [t.table, t.reason])).toEqual([['deals', 'file changed']]);
  });

  it('diff and status catch a careless policy by table and name; apply removes it', async () => {
    const c = db().client;
    expect((await policyDiff({ client: c, manifest: r.manifest, policiesDir: r.policiesDir })).drift).toEqual([]);
    await c.query(`CREATE POLICY careless ON contacts FOR SELECT USING (true)`);
    const diff = await policyDiff({ client: c, manifest: r.manifest, policiesDir: r.policiesDir });
    expect(diff.drift).toMatchObject([{ table: 'contacts', kind: 'extra-policy', object: 'careless' }]);
    const status = await policyStatus({ client: c, manifest: r.manifest, policiesDir: r.policiesDir });
    expect(status.tables.filter((t) => t.drifted).map((t) => t.table)).toEqual(['contacts']);
    expect(status.tables.find((t) => t.table === 'deals')).toMatchObject({ rlsEnabled: true, rlsForced: true, pending: false });

    const cli = await runCli(['policies', 'diff', '--config', r.manifestFile, '--policies-dir', r.policiesDir, '--database-url', db().url]);
    expect(cli.code).toBe(1);
    expect(cli.stdout).toContain('public.contacts: extra-policy careless');

    const fixed = await applyPolicies({ client: c, manifest: r.manifest, policiesDir: r.policiesDir });
    expect(fixed.tables.filter((t) => t.status === 'applied')).toMatchObject([
      { table: 'contacts', reason: 'live policies drifted since the last apply', dropped: ['careless'] },
    ]);
    expect(fixed.warnings.join('\n')).toContain('dropped policy careless');
    expect((await policyDiff({ client: c, manifest: r.manifest, policiesDir: r.policiesDir })).drift).toEqual([]);
    const ok = await runCli(['policies', 'diff', '--config', r.manifestFile, '--policies-dir', r.policiesDir, '--database-url', db().url]);
    expect(ok.code).toBe(0);
  });

  it('diff sees a changed expression and a changed function', async () => {
    const c = db().client;
    await c.query(
      `ALTER POLICY tenant_isolation ON deals USING (company_id = current_setting('app.current_company_id')::int)`,
    );
    const diff = await policyDiff({ client: c, manifest: r.manifest, policiesDir: r.policiesDir });
    expect(diff.drift).toMatchObject([{ table: 'deals', kind: 'changed-policy', object: 'tenant_isolation' }]);
    await applyPolicies({ client: c, manifest: r.manifest, policiesDir: r.policiesDir });
    expect((await policyDiff({ client: c, manifest: r.manifest, policiesDir: r.policiesDir })).drift).toEqual([]);

    // The repository's hand edit of users.sql (the login lookup), for this run's role.
    const repoUsers = await readFile(path.join(repoRoot, 'policies', 'users.sql'), 'utf8');
    const handEdit = repoUsers.slice(repoUsers.indexOf('-- ----')).replaceAll('"crm_app"', ident(r.app));
    await appendFile(path.join(r.policiesDir, 'users.sql'), `\n${handEdit}`);
    const applied = await applyPolicies({ client: c, manifest: r.manifest, policiesDir: r.policiesDir });
    expect(applied.tables.filter((t) => t.status === 'applied').map((t) => t.table)).toEqual(['users']);
    expect((await policyDiff({ client: c, manifest: r.manifest, policiesDir: r.policiesDir })).drift).toEqual([]);
    await c.query(`GRANT EXECUTE ON FUNCTION find_user_for_login(text) TO PUBLIC`);
    const diff2 = await policyDiff({ client: c, manifest: r.manifest, policiesDir: r.policiesDir });
    expect(diff2.drift).toMatchObject([{ table: 'users', kind: 'function', object: 'find_user_for_login(text)' }]);
    await c.query(`REVOKE EXECUTE ON FUNCTION find_user_for_login(text) FROM PUBLIC`);
    expect((await policyDiff({ client: c, manifest: r.manifest, policiesDir: r.policiesDir })).drift).toEqual([]);
  });

  it('waits for a lock with lock_timeout and retries; reports the table as failed when it never gets it', async () => {
    const c = db().client;
    await appendFile(path.join(r.policiesDir, 'emails.sql'), '\n-- touched\n');
    const blocker = await db().connect();
    await blocker.query('BEGIN');
    await blocker.query('LOCK TABLE emails IN ACCESS SHARE MODE'); // conflicts with ALTER TABLE / CREATE POLICY
    const failed = await applyPolicies({ client: c, manifest: r.manifest, policiesDir: r.policiesDir, lockTimeoutMs: 50, attempts: 2 });
    const emails = failed.tables.find((t) => t.table === 'emails')!;
    expect(emails).toMatchObject({ status: 'failed', attempts: 2 });
    expect(emails.reason).toContain('55P03');
    expect(failed.ok).toBe(false);
    // Released during the retries (when the first lock_timeout is logged, not after a fixed delay: a
    // loaded machine may start the first attempt later than any delay): a later attempt succeeds.
    await appendFile(path.join(r.policiesDir, 'emails.sql'), '\n-- touched again\n');
    let released: Promise<unknown> | undefined;
    const logger = {
      info() {},
      debug() {},
      warn(message: string) {
        if (!released && message.includes('retrying')) released = blocker.query('COMMIT');
      },
    };
    const ok = await applyPolicies({ client: c, manifest: r.manifest, policiesDir: r.policiesDir, lockTimeoutMs: 50, attempts: 8, logger });
    await released;
    const again = ok.tables.find((t) => t.table === 'emails')!;
    expect(again.status).toBe('applied');
    expect(again.attempts).toBeGreaterThan(1);
  });

  it('status --json and apply --json through the CLI', async () => {
    const status = await runCli(['policies', 'status', '--json', '--config', r.manifestFile, '--policies-dir', r.policiesDir, '--database-url', db().url]);
    expect(status.code).toBe(0);
    const parsed = JSON.parse(status.stdout);
    expect(parsed.tables).toHaveLength(28);
    expect(parsed.tables[0]).toMatchObject({ table: 'companies', rlsEnabled: true, rlsForced: true, drifted: false, pending: false });
    const apply = await runCli(['policies', 'apply', '--json', '--config', r.manifestFile, '--policies-dir', r.policiesDir, '--database-url', db().url]);
    expect(apply.code).toBe(0);
    expect(JSON.parse(apply.stdout).tables.every((t: { status: string }) => t.status === 'unchanged')).toBe(true);

    // A scoped table without a policy file is drift too.
    const sms = path.join(r.policiesDir, 'sms_templates.sql');
    const kept = await readFile(sms, 'utf8');
    await rm(sms);
    const diff = await policyDiff({ client: db().client, manifest: r.manifest, policiesDir: r.policiesDir });
    expect(diff.missingFiles).toEqual(['sms_templates']);
    const cli = await runCli(['policies', 'diff', '--config', r.manifestFile, '--policies-dir', r.policiesDir, '--database-url', db().url]);
    expect(cli.code).toBe(1);
    expect(cli.stdout).toContain('public.sms_templates: no policy file');
    await writeFile(sms, kept);
  });
});

describe('policies apply checks the roles first', () => {
  const db = useTestDatabase({ sample: true });
  let r: RolledOut;
  const created: string[] = [];
  beforeAll(async () => {
    r = await rollOut(db());
  });
  afterAll(async () => {
    await dropCreatedRoles(db().client, created);
  });

  it('refuses a BYPASSRLS app role and an app role owning a scoped table, saying what to run; passes once fixed', async () => {
    const c = db().client;
    await c.query(`ALTER ROLE ${ident(r.app)} BYPASSRLS`);
    await c.query(`ALTER TABLE deals OWNER TO ${ident(r.app)}`);
    const refused = await applyPolicies({ client: c, manifest: r.manifest, policiesDir: r.policiesDir });
    expect(refused.ok).toBe(false);
    expect(refused.tables).toEqual([]);
    expect(refused.refusals.map((x) => [x.problem, x.remedy])).toEqual([
      ['bypassrls', `ALTER ROLE ${ident(r.app)} NOBYPASSRLS;`],
      ['owner', `ALTER TABLE "public"."deals" OWNER TO ${ident((await c.query('SELECT current_user AS u')).rows[0].u)};`],
    ]);
    const rls = await c.query(`SELECT relrowsecurity FROM pg_class WHERE oid = 'deals'::regclass`);
    expect(rls.rows[0].relrowsecurity).toBe(false); // nothing applied

    const cli = await runCli(['policies', 'apply', '--config', r.manifestFile, '--policies-dir', r.policiesDir, '--database-url', db().url]);
    expect(cli.code).toBe(1);
    expect(cli.stderr).toContain('NOBYPASSRLS');

    await c.query(`ALTER ROLE ${ident(r.app)} NOBYPASSRLS`);
    await c.query(`ALTER TABLE deals OWNER TO CURRENT_USER`);
    const ok = await applyPolicies({ client: c, manifest: r.manifest, policiesDir: r.policiesDir });
    expect(ok.ok).toBe(true);
    expect(ok.refusals).toEqual([]);
  });

  it('creates missing roles NOLOGIN with a warning', async () => {
    const c = db().client;
    const suffix = Math.random().toString(36).slice(2, 8);
    const app = `crmt_missing_app_${suffix}`;
    const support = `crmt_missing_support_${suffix}`;
    created.push(app, support);
    const manifest = parseManifestText(await sampleManifestText({ app, support }), 'tenancy.yaml');
    // The files name the old roles; rewrite them for the new ones.
    for (const t of ['companies', ...manifest.tables.map((x) => x.name)]) {
      const file = path.join(r.policiesDir, `${t}.sql`);
      const text = (await readFile(file, 'utf8')).replaceAll(ident(r.app), ident(app)).replaceAll(ident(r.support), ident(support));
      await writeFile(file, text);
    }
    const result = await applyPolicies({ client: c, manifest, policiesDir: r.policiesDir });
    expect(result.rolesCreated).toEqual([
      { role: app, kind: 'app' },
      { role: support, kind: 'bypass' },
    ]);
    expect(result.warnings.filter((w) => w.includes('NOLOGIN'))).toHaveLength(2);
    const { rows } = await c.query(`SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname = ANY($1::text[]) ORDER BY 1`, [[app, support]]);
    expect(rows.map((x) => x.rolcanlogin)).toEqual([false, false]);
    expect(result.ok).toBe(true);
  });
});
