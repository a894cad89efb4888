// The audit as CI runs it: formats, --fail-on, waivers, baseline, exit codes (real CLI, real database).
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadChecks } from '../../src/audit/check-definitions.js';
import { runCli } from '../support/cli.js';
import { useTestDatabase } from '../support/database.js';

let dir: string;
const manifestPath = () => path.join(dir, 'tenancy.yaml');

describe('crm-tenancy audit (CLI)', () => {
  const db = useTestDatabase({ sample: true });
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'crmt-audit-cli-'));
    await writeFile(manifestPath(), await readFile('tenancy.yaml', 'utf8'));
  });
  const audit = (...args: string[]) => runCli(['audit', '--database-url', db().url, '--config', manifestPath(), ...args]);

  it('JSON: version 1, every finding with its fields, exit 1 on errors; messages stay off stdout', async () => {
    const r = await audit('--format', 'json');
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout);
    expect(report.version).toBe(1);
    expect(report.summary).toMatchObject({ error: 47, warning: 54, failOn: 'error', checks: 30, exitCode: 1 });
    const nullPhones = report.findings.find((f: { check: string; table: string }) => f.check === 'null-tenant' && f.table === 'public.phone_numbers');
    expect(nullPhones).toEqual({
      check: 'null-tenant',
      severity: 'error',
      table: 'public.phone_numbers',
      object: null,
      count: 1,
      samples: [4],
      message: '1 row of public.phone_numbers has no company_id',
      remediation: expect.stringContaining('crm-tenancy backfill'),
      fingerprint: expect.stringMatching(/^[0-9a-f]{16}$/),
    });
    // Fingerprints are stable across runs.
    const again = JSON.parse((await audit('--format', 'json')).stdout);
    expect(again.findings.map((f: { fingerprint: string }) => f.fingerprint)).toEqual(report.findings.map((f: { fingerprint: string }) => f.fingerprint));
  });

  it('--fail-on and --only gate as documented', async () => {
    expect((await audit('--only', 'nullable-tenant-column', '--format', 'json')).code).toBe(0);
    expect((await audit('--only', 'nullable-tenant-column', '--fail-on', 'warning', '--format', 'json')).code).toBe(1);
    expect((await audit('--fail-on', 'never', '--format', 'json')).code).toBe(0);
    const skipped = JSON.parse((await audit('--skip', 'fk-not-tenant-scoped,rls-disabled', '--format', 'json')).stdout);
    expect(skipped.summary.checks).toBe(28);
    expect(skipped.findings.some((f: { check: string }) => f.check === 'rls-disabled')).toBe(false);
  });

  it('SARIF 2.1.0: one rule per check, results with levels, fingerprints and logical locations', async () => {
    const r = await audit('--format', 'sarif', '--output', path.join(dir, 'a.sarif'));
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/wrote .*a\.sarif: 47 errors, 54 warnings/);
    const sarif = JSON.parse(await readFile(path.join(dir, 'a.sarif'), 'utf8'));
    expect(sarif.version).toBe('2.1.0');
    const run = sarif.runs[0];
    expect(run.tool.driver.name).toBe('crm-tenancy');
    expect(run.tool.driver.rules).toHaveLength(30);
    expect(run.results).toHaveLength(101);
    const result = run.results.find((x: { ruleId: string }) => x.ruleId === 'duplicate-within-tenant');
    expect(result.level).toBe('error');
    expect(run.tool.driver.rules[result.ruleIndex].id).toBe('duplicate-within-tenant');
    expect(result.locations[0].logicalLocations[0].fullyQualifiedName).toBe('public.twilio_settings:company_id');
    expect(result.partialFingerprints.crmTenancyFingerprint).toMatch(/^[0-9a-f]{16}$/);
  });

  it('JUnit: a suite per check, a failing case per table with an error or warning', async () => {
    const r = await audit('--format', 'junit');
    expect(r.stdout.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites')).toBe(true);
    expect(r.stdout.match(/<testsuite /g)).toHaveLength(30);
    const rls = /<testsuite name="rls-disabled" tests="(\d+)" failures="(\d+)"/.exec(r.stdout)!;
    expect([Number(rls[1]), Number(rls[2])]).toEqual([28, 28]);
    expect(r.stdout.match(/<failure /g)!.length).toBe(Number(/<testsuites [^>]*failures="(\d+)"/.exec(r.stdout)![1]));
    expect(r.stdout.split('<testcase').length - 1).toBe(r.stdout.split('</testcase>').length - 1);
  });

  it('markdown for the step summary', async () => {
    const r = await audit('--format', 'markdown');
    expect(r.stdout).toMatch(/^## crm-tenancy audit: ❌ failed/);
    expect(r.stdout).toMatch(/\n### 🔴 \[null-tenant\]\(https:\/\/\S+\/docs\/checks\/null-tenant\.md\) — 8 findings, gating\n/);
    expect(r.stdout).toContain('| 🔴 | public.phone_numbers | 1 | 1 row of public.phone_numbers has no company_id | [4] |');
    expect(r.stdout).toContain('<summary>Coverage: tables × checks</summary>');
  });

  it('the table format shows the verdict, every error by table and check, warnings by check, and ends with the summary', async () => {
    const r = await audit();
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^crm-tenancy audit of public: FAILED — 47 errors, 54 warnings, 0 info, 0 waived/);
    expect(r.stdout).toContain('errors (47, every one; by table and check):');
    expect(r.stdout).toContain('  public.twilio_settings');
    expect(r.stdout).toMatch(/\n {2}warning +fk-not-tenant-scoped ×\d+: /);
    expect(r.stdout).toMatch(/\nsummary: FAILED — 47 errors, 54 warnings, 0 info, 0 waived \(--fail-on error\)\n/);
    expect(r.stdout.trimEnd().split('\n').at(-1)).toMatch(/--verbose shows every finding, its samples and the coverage matrix$/);
    expect(r.stdout).not.toContain('coverage (. pass');
  });

  it('waivers: waived findings do not gate, expired waivers stop waiving, unused ones are reported', async () => {
    const file = path.join(dir, 'waivers.yaml');
    await writeFile(
      file,
      [
        '- { check: duplicate-within-tenant, object: twilio_settings, reason: "ticket CRM-12: merge pending", expires: 2999-01-01 }',
        '- { check: null-tenant, object: public.phone_numbers, reason: "old", expires: 2001-01-01 }',
        '- { check: rls-disabled, object: no_such_table, reason: "stale" }',
      ].join('\n'),
    );
    const r = await audit('--only', 'duplicate-within-tenant,null-tenant,rls-disabled', '--waivers', file, '--format', 'json');
    const report = JSON.parse(r.stdout);
    const dup = report.findings.find((f: { check: string }) => f.check === 'duplicate-within-tenant');
    expect(dup.waived).toEqual({ by: 'waiver', reason: 'ticket CRM-12: merge pending', expires: '2999-01-01' });
    expect(report.findings.find((f: { table: string; check: string }) => f.check === 'null-tenant' && f.table === 'public.phone_numbers').waived).toBeUndefined();
    expect(report.summary.expiredWaivers.map((w: { object: string }) => w.object)).toEqual(['public.phone_numbers']);
    expect(report.summary.unusedWaivers.map((w: { object: string }) => w.object)).toEqual(['no_such_table']);
    expect(report.summary.waived).toBe(1);
    // Only the duplicate waived: it no longer gates.
    expect((await audit('--only', 'duplicate-within-tenant', '--waivers', file, '--format', 'json')).code).toBe(0);
    // A wildcard or a missing reason is a usage error.
    await writeFile(file, '- { check: null-tenant, object: "*", reason: "" }\n');
    const bad = await audit('--waivers', file);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/wildcards are not allowed/);
    expect(bad.stderr).toMatch(/reason: is required/);
  });

  it('baseline: accept what is there, fail only on what is new', async () => {
    const baseline = path.join(dir, 'baseline.json');
    const first = await audit('--write-baseline', baseline, '--format', 'json', '--fail-on', 'never');
    expect(first.code).toBe(0);
    expect((await audit('--baseline', baseline, '--format', 'json')).code).toBe(0);
    await db().client.query(`UPDATE contacts SET company_id = 2 WHERE id = 1`); // a new cross-tenant reference (deals 1 → contact 1)
    const r = await audit('--baseline', baseline, '--format', 'json');
    await db().client.query(`UPDATE contacts SET company_id = 1 WHERE id = 1`);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout);
    const gating = report.findings.filter((f: { waived?: unknown; severity: string }) => !f.waived && f.severity === 'error');
    // Contact 1 moved to company 2: new leaks through FKs that had none (deals/activities already had
    // findings, so those fingerprints stay accepted — a baseline accepts a finding, not its count).
    expect(gating.map((f: { check: string; table: string; object: string }) => `${f.check} ${f.table} ${f.object}`).sort()).toEqual([
      'cross-tenant-reference public.calls calls_contact_id_fkey',
      'cross-tenant-reference public.contacts contacts_owner_id_fkey',
      'cross-tenant-reference public.quotes quotes_contact_id_fkey',
    ]);
  });

  it('cannot run → exit 2: unknown check, bad format, no scoped table exists, unreachable database', async () => {
    const unknown = await audit('--only', 'no-such-check');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown check id: no-such-check/);
    expect((await audit('--format', 'xml')).code).toBe(2);
    const empty = path.join(dir, 'empty.yaml');
    await writeFile(
      empty,
      'tenant: {table: companies, key: id, column: company_id, setting: app.current_company_id}\nroles: {app: [crm_app]}\ntables: {ghost_a: {}, ghost_b: {}}\n',
    );
    const none = await runCli(['audit', '--database-url', db().url, '--config', empty]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/none of the 2 scoped tables exists in schema public/);
    const down = await runCli(['audit', '--database-url', 'postgres://x:pw@127.0.0.1:1/db', '--config', manifestPath()]);
    expect(down.code).toBe(2);
    expect(down.stderr).toMatch(/cannot connect/);
    const missingManifest = await runCli(['audit', '--database-url', db().url, '--config', path.join(dir, 'nope.yaml')]);
    expect(missingManifest.code).toBe(2);
    expect(missingManifest.stderr).toMatch(/manifest .*nope\.yaml not found/);
  });

  it('an audit that would run no check exits 2 and says so (never PASS with 0 checks)', async () => {
    const ids = JSON.parse((await audit('--only', 'null-tenant', '--format', 'json')).stdout);
    expect(ids.summary.checks).toBe(1);
    const every = (await loadChecks()).map((c) => c.id).join(',');
    const skipped = await audit('--skip', every, '--format', 'json');
    expect(skipped.code).toBe(2);
    expect(skipped.stdout).toBe('');
    expect(skipped.stderr).toMatch(/no check to run: --only and --skip leave none of the \d+ checks/);
    const overlap = await audit('--only', 'null-tenant', '--skip', 'null-tenant');
    expect(overlap.code).toBe(2);
    expect(overlap.stdout).not.toMatch(/PASS/);
    expect(overlap.stderr).toMatch(/no check to run/);
    for (const only of ['', ',', ' , ']) {
      const empty = await audit('--only', only);
      expect(empty.code).toBe(2);
      expect(empty.stderr).toMatch(/--only names no check id/);
    }
  });
});
