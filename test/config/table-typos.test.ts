// "Did you mean" for manifest names the database lacks: a typo (`dealz`) names the close table
// (`deals`) in the missing-table and untracked-table findings, the load errors, `backfill --table`
// and backfill's skip line, status and policies diff; an unrelated name gets no suggestion.
import { writeFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runAudit } from '../../src/audit/runner.js';
import { generateMigrations } from '../../src/migrate/generate.js';
import { parseManifest } from '../../src/config/manifest.js';
import { liveProblems, requireScopedTable } from '../../src/config/live-context.js';
import { readCatalog } from '../../src/db/catalog.js';
import { suggest } from '../../src/did-you-mean.js';
import { suggest as cliSuggest } from '../../src/cli/did-you-mean.js';
import { verifyIsolation } from '../../src/verify/verify.js';
import { rolloutStatus } from '../../src/status/rollout-status.js';
import { policyDiff } from '../../src/policies/policy-diff.js';
import { runCli } from '../support/cli.js';
import { useTestDatabase } from '../support/database.js';

const manifestFor = (tables: Record<string, unknown>, tenant: Record<string, string> = {}) =>
  parseManifest({
    tenant: { table: 'companies', key: 'id', column: 'company_id', setting: 'app.current_company_id', ...tenant },
    roles: { app: ['crm_app'] },
    tables,
  });

const manifestText = (tables: string[]) => `schema: public
tenant:
  table: companies
  key: id
  column: company_id
  setting: app.current_company_id
roles:
  app: [crm_app]
tables:
${tables.map((t) => `  ${t}:\n    backfill: [contact_id]`).join('\n')}
`;

describe('did you mean, for tables and columns of the manifest', () => {
  const db = useTestDatabase({ sample: true });

  it('the core function is the CLI one: a close typo is suggested, an unrelated name is not', () => {
    expect(cliSuggest).toBe(suggest);
    expect(suggest('dealz', ['deals', 'contacts', 'users'])).toEqual(['deals']);
    expect(suggest('invoices_archive', ['deals', 'contacts', 'users'])).toEqual([]);
  });

  it('audit: missing-table says "did you mean deals?" and untracked-table names the typo; an unrelated name gets neither', async () => {
    const typo = await runAudit({ client: db().client, manifest: manifestFor({ dealz: {}, contacts: {} }), only: ['missing-table', 'untracked-table'] });
    const missing = typo.findings.find((f) => f.check === 'missing-table');
    expect(missing?.message).toBe('table public.dealz is listed in the manifest but does not exist (did you mean deals?)');
    const untracked = typo.findings.find((f) => f.check === 'untracked-table' && f.table === 'public.deals');
    expect(untracked?.message).toBe('public.deals is neither scoped nor exempt in the manifest (the manifest lists dealz, which does not exist: a typo?)');
    expect(typo.findings.filter((f) => f.check === 'untracked-table' && f.table !== 'public.deals').every((f) => !f.message.includes('typo'))).toBe(true);

    const unrelated = await runAudit({ client: db().client, manifest: manifestFor({ zq_ledger: {}, contacts: {} }), only: ['missing-table', 'untracked-table'] });
    expect(unrelated.findings.find((f) => f.check === 'missing-table')?.message).toBe('table public.zq_ledger is listed in the manifest but does not exist');
    expect(unrelated.findings.some((f) => f.message.includes('did you mean') || f.message.includes('typo'))).toBe(false);
  });

  it('load errors: tenant table, tenant key, backfill and unique columns name the close name; unrelated ones do not', async () => {
    const catalog = await readCatalog(db().client, ['public']);
    expect(liveProblems(manifestFor({ deals: {} }, { table: 'companys' }), catalog)).toEqual([
      'tenant.table: table public.companys does not exist (did you mean companies?)',
    ]);
    expect(liveProblems(manifestFor({ deals: { backfill: ['contactid'], unique: [['titel']] } }, { key: 'idd' }), catalog)).toEqual([
      'tenant.key: column idd does not exist in public.companies (did you mean id?)',
      'tables.deals.backfill[0]: column contactid does not exist in public.deals (did you mean contact_id?)',
      'tables.deals.unique[0]: column titel does not exist in public.deals (did you mean title?)',
    ]);
    expect(liveProblems(manifestFor({ deals: { backfill: ['zzzzzzzz'] } }, { table: 'qqqqqq' }), catalog)).toEqual([
      'tenant.table: table public.qqqqqq does not exist',
      'tables.deals.backfill[0]: column zzzzzzzz does not exist in public.deals',
    ]);
    expect(() => requireScopedTable(manifestFor({ deals: {} }), 'dealz')).toThrow(/not a scoped table in the manifest \(did you mean deals\?\)/);
    expect(() => requireScopedTable(manifestFor({ deals: {} }), 'invoices_archive')).toThrow(/not a scoped table in the manifest$/);
  });

  it('backfill --table dealz (exit 2) and backfill over a manifest listing dealz (skipped) say "did you mean deals?"', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'crmt-typo-'));
    const good = path.join(dir, 'good.yaml');
    const typo = path.join(dir, 'typo.yaml');
    await writeFile(good, manifestText(['deals']), 'utf8');
    await writeFile(typo, manifestText(['dealz']), 'utf8');
    const option = await runCli(['backfill', '--table', 'dealz', '--dry-run', '--config', good, '--database-url', db().url]);
    expect(option.code).toBe(2);
    expect(option.stderr).toMatch(/table dealz is not a scoped table in \S+good\.yaml \(did you mean deals\?\)/);
    const unrelated = await runCli(['backfill', '--table', 'ledger_q', '--dry-run', '--config', good, '--database-url', db().url]);
    expect(unrelated.code).toBe(2);
    expect(unrelated.stderr).not.toMatch(/did you mean/);
    const listed = await runCli(['backfill', '--dry-run', '--config', typo, '--database-url', db().url]);
    expect(listed.stderr).toContain('table public.dealz does not exist (did you mean deals?); skipped');
  });

  it('generate skips a manifest table the database lacks, naming the close one (none for an unrelated name)', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'crmt-typo-gen-'));
    const gen = await generateMigrations({
      client: db().client,
      manifest: manifestFor({ dealz: {}, zq_ledger: {}, contacts: {} }),
      migrationsDir: path.join(dir, 'm'),
      policiesDir: path.join(dir, 'p'),
      check: true,
    });
    expect(gen.skipped.map((s) => s.reason)).toEqual(['table public.dealz does not exist (did you mean deals?)', 'table public.zq_ledger does not exist']);
  });
});

describe('did you mean, in verify', () => {
  const db = useTestDatabase({ sample: true });

  it('verify reports a manifest table the database lacks with the close name (none for an unrelated name)', async () => {
    const app = await db().createRole('typo_app');
    const manifest = manifestFor({ dealz: {}, zq_ledger: {}, contacts: {} });
    const result = await verifyIsolation({ client: db().client, manifest: { ...manifest, roles: { ...manifest.roles, app: [app] } } });
    const detail = (table: string) => [...new Set(result.probes.filter((r) => r.table === table).map((r) => r.detail))];
    expect(detail('dealz')).toEqual(['table public.dealz does not exist (did you mean deals?)']);
    expect(detail('zq_ledger')).toEqual(['table public.zq_ledger does not exist']);
  });
});

describe('did you mean, in status and policies diff', () => {
  const db = useTestDatabase({ sample: true });

  it('status: a manifest table the database lacks is "table missing" with the close name (none for an unrelated name)', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'crmt-typo-status-'));
    const s = await rolloutStatus({
      client: db().client,
      manifest: manifestFor({ dealz: {}, zq_ledger: {}, contacts: {} }),
      migrationsDir: path.join(dir, 'm'),
      policiesDir: path.join(dir, 'p'),
    });
    const detail = (table: string) => s.tables.find((t) => t.table === table)?.detail;
    expect(detail('dealz')).toBe('the table does not exist: create it, or remove it from the manifest (did you mean deals?)');
    expect(detail('zq_ledger')).toBe('the table does not exist: create it, or remove it from the manifest');
  });

  it('policies diff: the policy file of a table gone since names the close one (none for an unrelated name)', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'crmt-typo-diff-'));
    await db().client.query('CREATE TABLE dealsx (id int PRIMARY KEY, company_id int REFERENCES companies (id)); CREATE TABLE zq_ledger (LIKE dealsx)');
    const manifest = manifestFor({ dealsx: {}, zq_ledger: {} });
    const gen = await generateMigrations({ client: db().client, manifest, migrationsDir: path.join(dir, 'm'), policiesDir: path.join(dir, 'p') });
    expect(gen.skipped).toEqual([]);
    await db().client.query('DROP TABLE dealsx, zq_ledger');
    const diff = await policyDiff({ client: db().client, manifest, policiesDir: path.join(dir, 'p') });
    const detail = (table: string) => diff.drift.find((d) => d.table === table)?.detail;
    expect(detail('dealsx')).toBe('table public.dealsx does not exist (did you mean deals?)');
    expect(detail('zq_ledger')).toBe('table public.zq_ledger does not exist');
  });
});
