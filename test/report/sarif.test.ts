// SARIF: each result at the manifest line declaring its table (or role, function, setting), else a file the
// finding names, else the check's page; helpUri and help per rule; the 2.1.0 shape (test/report/sarif-schema.ts).
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { docsBaseFromPackage } from '../../src/report/docs-url.js';
import { renderAudit } from '../../src/report/render-audit.js';
import { renderSarif } from '../../src/report/sarif.js';
import { repoRoot } from '../support/cli.js';
import { auditResult, type FindingInput } from './fixture.js';
import { sarifProblems } from './sarif-schema.js';

const MANIFEST = [
  '# the manifest (line 1)',
  'schema: public',
  'tenant:',
  '  table: companies',
  '  key: id',
  '  column: company_id',
  '  setting: app.current_company_id',
  'roles:',
  '  app: [crm_app]',
  '  bypass:',
  '    crm_support: support console',
  'tables:',
  '  deals: {}',
  '  contacts:',
  '    backfill: [owner_id]',
  'exempt:',
  '  audit_logs: operators only',
  'definer_functions:',
  '  find_user_for_login: login',
  '',
].join('\n');

const FINDINGS: FindingInput[] = [
  { check: 'null-tenant', severity: 'error', table: 'public.deals', count: 2, samples: [4, 7], message: '2 rows of public.deals have no company_id' },
  { check: 'rls-disabled', severity: 'error', table: 'public.contacts', message: 'public.contacts does not have row-level security enabled' },
  { check: 'exempt-table-holds-tenant-data', severity: 'warning', table: 'public.audit_logs', message: 'exempt public.audit_logs holds tenant data' },
  { check: 'unscoped-unique', severity: 'warning', table: 'public.companies', object: 'companies_slug_key', message: 'companies_slug_key is global' },
  { check: 'app-role-bypasses-rls', severity: 'error', object: 'crm_app', message: 'crm_app bypasses row-level security' },
  { check: 'app-role-bypasses-rls', severity: 'info', object: 'crm_support', message: 'bypass role crm_support sees every tenant' },
  { check: 'security-definer-function', severity: 'warning', object: 'find_user_for_login(text)', message: 'SECURITY DEFINER function find_user_for_login(text)' },
  { check: 'tenant-setting-default', severity: 'error', object: 'ALL', message: 'ALTER ROLE ALL SET app.current_company_id = 1' },
  { check: 'untracked-table', severity: 'warning', table: 'public.legacy', message: 'public.legacy is neither scoped nor exempt' },
  { check: 'view-bypasses-rls', severity: 'error', object: 'public.deal_report', message: 'view public.deal_report over public.deals is readable by crm_app' },
  { check: 'no-policy', severity: 'error', object: 'deals_isolation', message: 'policies/deals.sql was never applied' },
];

type Sarif = {
  runs: {
    tool: { driver: { rules: { id: string; helpUri?: string; help: { text: string; markdown: string } }[]; informationUri?: string } };
    results: { ruleId: string; message: { text: string }; locations: { physicalLocation: { artifactLocation: { uri: string }; region: { startLine: number; startColumn?: number } } }[] }[];
  }[];
};
const where = (sarif: Sarif) =>
  sarif.runs[0].results.map((r) => {
    const p = r.locations[0].physicalLocation;
    return `${r.ruleId} ${p.artifactLocation.uri}:${p.region.startLine}${p.region.startColumn ? `:${p.region.startColumn}` : ''}`;
  });

describe('SARIF locations', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'crmt-sarif-'));
    await mkdir(path.join(dir, 'db'));
    await writeFile(path.join(dir, 'db', 'tenancy.yaml'), MANIFEST);
    await mkdir(path.join(dir, 'policies'));
    await writeFile(path.join(dir, 'policies', 'deals.sql'), '-- policy\n');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('the declaring line and column of each table, role, function and setting; a named policy file; else the manifest', async () => {
    const result = await auditResult(FINDINGS);
    const sarif = JSON.parse(
      renderSarif(result, { manifestFile: 'db/tenancy.yaml', manifestText: MANIFEST, workingDirectory: dir, sourceRoot: dir, docsBaseUrl: 'https://example.com/crm-tenancy/blob/main' }),
    ) as Sarif;
    expect(where(sarif)).toEqual([
      'null-tenant db/tenancy.yaml:13:3', // tables.deals
      'rls-disabled db/tenancy.yaml:14:3', // tables.contacts
      'exempt-table-holds-tenant-data db/tenancy.yaml:17:3', // exempt.audit_logs
      'unscoped-unique db/tenancy.yaml:4:3', // tenant.table: companies
      'app-role-bypasses-rls db/tenancy.yaml:9:9', // roles.app: [crm_app]
      'app-role-bypasses-rls db/tenancy.yaml:11:5', // roles.bypass.crm_support
      'security-definer-function db/tenancy.yaml:19:3', // definer_functions.find_user_for_login
      'tenant-setting-default db/tenancy.yaml:7:3', // tenant.setting
      'untracked-table db/tenancy.yaml:12:1', // tables: (where it goes)
      // Nothing in the manifest, and the check pages are not in this repository: the manifest's first line.
      'view-bypasses-rls db/tenancy.yaml:1',
      'no-policy policies/deals.sql:1', // the file the finding names, in the repository
    ]);
    expect(sarifProblems(sarif)).toEqual([]);
  });

  it("a finding tied to nothing in the manifest points at its check's page when the page is in the repository (crm-tenancy's own)", async () => {
    const result = await auditResult([
      FINDINGS.find((f) => f.check === 'view-bypasses-rls')!,
      { check: 'no-policy', severity: 'error', object: 'ghost_isolation', message: 'policies/ghost.sql was never applied' },
    ]);
    const sarif = JSON.parse(renderSarif(result, { manifestFile: path.join(dir, 'db', 'tenancy.yaml'), manifestText: MANIFEST, workingDirectory: repoRoot, sourceRoot: repoRoot })) as Sarif;
    // policies/ghost.sql does not exist: a named file that is not there is skipped.
    expect(where(sarif)).toEqual(['view-bypasses-rls docs/checks/view-bypasses-rls.md:1', 'no-policy docs/checks/no-policy.md:1']);
  });

  it('a table missing from the manifest text (or no text) is not given a wrong line', async () => {
    const result = await auditResult([FINDINGS[0]]);
    const other = JSON.parse(renderSarif(result, { manifestText: 'tables:\n  contacts: {}\n', workingDirectory: dir, sourceRoot: dir })) as Sarif;
    expect(where(other)).toEqual(['null-tenant tenancy.yaml:1']);
    const none = JSON.parse(renderSarif(result, { workingDirectory: dir, sourceRoot: dir })) as Sarif;
    expect(where(none)).toEqual(['null-tenant tenancy.yaml:1']);
  });
});

describe('SARIF rules', () => {
  it('helpUri under --docs-base-url, help with the check title, its fix and the page; informationUri', async () => {
    const result = await auditResult(FINDINGS);
    const sarif = JSON.parse(renderSarif(result, { docsBaseUrl: 'https://git.example.com/tools/crm-tenancy/-/blob/v1/' })) as Sarif;
    const driver = sarif.runs[0].tool.driver;
    expect(driver.informationUri).toBe('https://git.example.com/tools/crm-tenancy/-/blob/v1/README.md');
    for (const rule of driver.rules) {
      const check = result.checks.find((c) => c.id === rule.id)!;
      expect(rule.helpUri).toBe(`https://git.example.com/tools/crm-tenancy/-/blob/v1/docs/checks/${rule.id}.md`);
      expect(rule.help.text).toContain(`Fix: ${check.remediation}`);
      expect(rule.help.text).toContain(rule.helpUri);
      expect(rule.help.markdown).toContain(`**Fix:** ${check.remediation}`);
      expect(rule.help.markdown).toContain(`](${rule.helpUri})`);
    }
    expect(sarifProblems(sarif)).toEqual([]);
    // Without a base address there is no helpUri (a relative one would not resolve in code scanning).
    const bare = JSON.parse(renderSarif(result)) as Sarif;
    expect(bare.runs[0].tool.driver.rules.every((r) => r.helpUri === undefined)).toBe(true);
  });

  it("renderAudit's default base is the package's repository (package.json)", async () => {
    const pkg = JSON.parse(await readFile(path.join(repoRoot, 'package.json'), 'utf8'));
    const base = docsBaseFromPackage(pkg);
    expect(base).toMatch(/^https:\/\//);
    const sarif = JSON.parse(renderAudit(await auditResult(FINDINGS), 'sarif')) as Sarif;
    expect(sarif.runs[0].tool.driver.rules[0].helpUri).toBe(`${base}/docs/checks/${sarif.runs[0].tool.driver.rules[0].id}.md`);
  });
});

describe('the SARIF 2.1.0 shape check itself', () => {
  it('finds a missing message, an absolute file path, a ruleIndex pointing elsewhere, a bad level, a missing tool name', async () => {
    const good = JSON.parse(renderSarif(await auditResult(FINDINGS), { docsBaseUrl: 'https://example.com/x' }));
    expect(sarifProblems(good)).toEqual([]);
    const broken = structuredClone(good);
    delete broken.runs[0].results[0].message;
    broken.runs[0].results[1].locations[0].physicalLocation.artifactLocation.uri = '/home/ci/tenancy.yaml';
    broken.runs[0].results[2].ruleIndex = 0;
    broken.runs[0].results[3].level = 'fatal';
    delete broken.runs[0].tool.driver.name;
    const problems = sarifProblems(broken);
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^runs\.0\.results\.0\.message: /),
        expect.stringMatching(/^runs\.0\.results\.1\.locations\.0\.physicalLocation\.artifactLocation\.uri: must be relative/),
        expect.stringMatching(/^runs\.0\.results\.3\.level: /),
        expect.stringMatching(/^runs\.0\.tool\.driver\.name: /),
      ]),
    );
    // The ruleIndex check runs once the rest of the run parses.
    const misindexed = structuredClone(good);
    misindexed.runs[0].results[2].ruleIndex = 0;
    expect(sarifProblems(misindexed)).toEqual(['runs.0.results.2.ruleIndex: does not point at rule exempt-table-holds-tenant-data']);
    expect(sarifProblems({ version: '2.0.0', runs: [] })[0]).toMatch(/^version: /);
    // additionalProperties: false, as in the schema (only `properties` bags take anything).
    const extra = structuredClone(good);
    extra.runs[0].results[0].locations[0].physicalLocation.line = 3;
    extra.runs[0].tool.driver.rules[0].helpUrl = 'https://example.com';
    expect(sarifProblems(extra)).toEqual([
      'runs.0.tool.driver.rules.0.helpUrl: is not a property of this SARIF object',
      'runs.0.results.0.locations.0.physicalLocation.line: is not a property of this SARIF object',
    ]);
  });
});
