// Every audit output format, parsed back: JSON contract, SARIF 2.1.0, well-formed JUnit XML, markdown, plain text.
import { beforeAll, describe, expect, it } from 'vitest';
import { loadChecks } from '../../src/audit/check-definitions.js';
import type { AuditResult, Finding } from '../../src/audit/types.js';
import { AUDIT_FORMATS, renderAudit } from '../../src/report/render-audit.js';

/** Minimal XML well-formedness: every tag closes in order, attributes quoted, no raw < or & in text. */
function assertWellFormedXml(xml: string): { tags: string[] } {
  const body = xml.replace(/^<\?xml[^>]*\?>\s*/, '');
  const stack: string[] = [];
  const tags: string[] = [];
  const re = /<(\/?)([A-Za-z][\w-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>|([^<]+)/gy;
  let m: RegExpExecArray | null;
  let at = 0;
  while ((m = re.exec(body))) {
    at = re.lastIndex;
    if (m[5] !== undefined) {
      expect(m[5]).not.toMatch(/&(?!amp;|lt;|gt;|quot;|apos;)/);
      continue;
    }
    const [, close, name, , selfClose] = m;
    if (close) expect(stack.pop()).toBe(name);
    else {
      tags.push(name);
      if (!selfClose) stack.push(name);
    }
  }
  expect(at).toBe(body.length);
  expect(stack).toEqual([]);
  return { tags };
}

describe('renderAudit', () => {
  let result: AuditResult;
  beforeAll(async () => {
    const checks = await loadChecks();
    const finding = (f: Partial<Finding> & Pick<Finding, 'check' | 'severity' | 'message'>): Finding => ({
      table: null,
      object: null,
      count: null,
      samples: [],
      remediation: checks.find((c) => c.id === f.check)!.remediation,
      fingerprint: 'f'.repeat(16),
      ...f,
    });
    const findings: Finding[] = [
      finding({ check: 'null-tenant', severity: 'error', table: 'public.deals', count: 2, samples: [4, 7], message: '2 rows of public.deals have no company_id <&> "quoted"' }),
      finding({ check: 'untracked-table', severity: 'warning', table: 'public.legacy', message: 'public.legacy is neither scoped nor exempt', waived: { by: 'waiver', reason: 'dropping it in Q1', expires: '2099-01-01' } }),
      finding({ check: 'app-role-bypasses-rls', severity: 'info', object: 'crm_support', message: 'bypass role crm_support sees every tenant' }),
    ];
    result = {
      version: 1,
      schema: 'public',
      tables: ['public.deals', 'public.companies'],
      checks,
      findings,
      runs: checks.map((c) => ({ check: c.id, ms: 1, findings: 0 })),
      dataChecks: [
        { check: 'null-tenant', status: 'mixed', proven: 1, scanned: 1 },
        { check: 'cross-tenant-reference', status: 'proven', proven: 2, scanned: 0 },
      ],
      proofs: [
        { check: 'null-tenant', table: 'deals', object: null, status: 'scanned' },
        { check: 'null-tenant', table: 'contacts', object: null, status: 'proven', proof: 'company_id is NOT NULL' },
        { check: 'cross-tenant-reference', table: 'deals', object: 'deals_contact_fk', status: 'proven', proof: 'validated composite foreign key' },
        { check: 'cross-tenant-reference', table: 'calls', object: 'calls_contact_fk', status: 'proven', proof: 'validated composite foreign key' },
      ],
      unusedWaivers: [{ check: 'rls-disabled', object: 'contacts', reason: 'old' }],
      expiredWaivers: [],
      summary: {
        error: 1, warning: 0, info: 1, waived: 1, failing: 1, failOn: 'error', checks: checks.length, tables: 2,
        scannedTables: 1, skippedScans: 3, deep: false, durationMs: 120, server: 'PostgreSQL 15',
      },
      ok: false,
      exitCode: 1,
    };
  });

  it('json: exactly { version, findings, dataChecks, proofs, summary } with the contract fields of each finding', () => {
    const doc = JSON.parse(renderAudit(result, 'json'));
    expect(Object.keys(doc)).toEqual(['version', 'findings', 'dataChecks', 'proofs', 'summary']);
    expect(doc.dataChecks).toEqual(result.dataChecks);
    expect(doc.proofs[1]).toEqual({ check: 'null-tenant', table: 'contacts', object: null, status: 'proven', proof: 'company_id is NOT NULL' });
    expect(doc.summary.deep).toBe(false);
    expect(doc.version).toBe(1);
    expect(Object.keys(doc.findings[0])).toEqual(['check', 'severity', 'table', 'object', 'count', 'samples', 'message', 'remediation', 'fingerprint']);
    expect(doc.findings[0]).toMatchObject({ check: 'null-tenant', table: 'public.deals', count: 2, samples: [4, 7] });
    expect(doc.summary).toMatchObject({ error: 1, waived: 1, failOn: 'error' });
  });

  it('sarif: 2.1.0, one rule per check with help, results with ruleId/level/message/locations', () => {
    const sarif = JSON.parse(renderAudit(result, 'sarif', { toolVersion: '1.2.3', manifestFile: 'tenancy.yaml' }));
    expect(sarif.version).toBe('2.1.0');
    const run = sarif.runs[0];
    expect(run.tool.driver).toMatchObject({ name: 'crm-tenancy', version: '1.2.3' });
    expect(run.tool.driver.rules.map((r: { id: string }) => r.id)).toEqual(result.checks.map((c) => c.id));
    for (const rule of run.tool.driver.rules) expect(rule.help.text.length).toBeGreaterThan(10);
    expect(run.results.map((r: { ruleId: string; level: string }) => [r.ruleId, r.level])).toEqual([
      ['null-tenant', 'error'],
      ['untracked-table', 'warning'],
      ['app-role-bypasses-rls', 'note'],
    ]);
    for (const r of run.results) {
      expect(run.tool.driver.rules[r.ruleIndex].id).toBe(r.ruleId);
      expect(r.message.text.length).toBeGreaterThan(0);
      expect(r.locations[0].logicalLocations[0].fullyQualifiedName).toBeTruthy();
    }
    // No manifest text: a table's finding points at the manifest's first line; one without a table at
    // its check's page (part of this repository, where the test runs).
    expect(run.results.map((r: { locations: { physicalLocation: { artifactLocation: { uri: string } } }[] }) => r.locations[0].physicalLocation.artifactLocation.uri)).toEqual([
      'tenancy.yaml',
      'tenancy.yaml',
      'docs/checks/app-role-bypasses-rls.md',
    ]);
    expect(run.results[1].suppressions).toHaveLength(1);
  });

  it('junit: well-formed XML, a testcase per check × table, the error a <failure>, the waived one skipped', () => {
    const xml = renderAudit(result, 'junit');
    const { tags } = assertWellFormedXml(xml);
    expect(tags.filter((t) => t === 'testsuite')).toHaveLength(result.checks.length);
    expect(tags.filter((t) => t === 'testcase').length).toBeGreaterThanOrEqual(result.checks.length * result.tables.length);
    expect(tags.filter((t) => t === 'failure')).toHaveLength(1);
    expect(xml).toMatch(/<testcase classname="crm-tenancy\.null-tenant" name="public\.deals">\s*<failure/);
    expect(xml).toContain('&lt;&amp;&gt; &quot;quoted&quot;');
    expect(xml).toMatch(/name="public\.legacy">\s*<skipped/);
  });

  it('markdown: verdict heading, findings, waived and unused waivers', () => {
    const md = renderAudit(result, 'markdown');
    expect(md.split('\n')[0]).toMatch(/^## crm-tenancy audit/);
    expect(md).toContain('null-tenant');
    expect(md).toContain('dropping it in Q1');
    expect(md).toMatch(/rls-disabled[^\n]*contacts/);
  });

  it('table (plain text), --verbose: summary, every finding by table, coverage matrix rows for every table', () => {
    const text = renderAudit(result, 'table', { verbose: true });
    expect(text).toMatch(/FAILED — 1 errors, 0 warnings, 1 info, 1 waived/);
    expect(text).toContain('samples: [4,7]');
    expect(text).toContain('waived (waiver): dropping it in Q1');
    const deals = text.split('\n').find((l) => l.startsWith('public.deals ') && /[.EW]/.test(l));
    expect(deals).toMatch(/E/);
    expect(text.split('\n').some((l) => l.startsWith('public.companies') && !/[EW]/.test(l.slice('public.companies'.length)))).toBe(true);
    expect(text).toContain('unused waiver: rls-disabled on contacts');
    expect(text).toMatch(/\nsummary: FAILED — 1 error, 0 warnings, 1 info, 1 waived/);
  });

  it('table (plain text), default: every error with its samples, the rest one line per check, waived counted, a closing summary', () => {
    const text = renderAudit(result, 'table');
    expect(text).toContain('errors (1, every one; by table and check):\n  public.deals\n    null-tenant: [2] 2 rows of public.deals have no company_id <&> "quoted"  samples: [4,7]');
    expect(text).toContain('  info    app-role-bypasses-rls ×1: crm_support');
    expect(text).toContain('waived: 1 finding (--verbose lists them with their reasons)');
    expect(text).not.toContain('dropping it in Q1');
    expect(text).not.toContain('coverage (');
    expect(text).toContain('unused waiver: rls-disabled on contacts');
    const lines = text.trimEnd().split('\n');
    const summary = lines.indexOf('summary: FAILED — 1 error, 0 warnings, 1 info, 1 waived (--fail-on error)');
    expect(lines.slice(summary + 1, summary + 4).map((l) => l.replace(/ +/g, ' ').trim())).toEqual([
      'check findings tables',
      'error null-tenant 1 1',
      'info app-role-bypasses-rls 1 0',
    ]);
  });

  it('table, default: an error with the same text on several tables is printed once with its tables; one with its own text alone', () => {
    const base = result.findings[0];
    const same = (table: string): Finding => ({ ...base, check: 'rls-disabled', table, count: null, samples: [], message: `${table} does not have row-level security enabled` });
    const many: AuditResult = {
      ...result,
      findings: [same('public.deals'), same('public.companies'), same('public.calls'), { ...base, table: 'public.calls', message: 'partition x of public.calls', check: 'partition-without-rls', count: null, samples: [] }],
    };
    const text = renderAudit(many, 'table');
    expect(text).toContain('  rls-disabled on 3 tables: <table> does not have row-level security enabled\n      public.deals, public.companies, public.calls\n');
    expect(text).toContain('  public.calls\n    partition-without-rls: partition x of public.calls\n');
  });

  it('table, markdown: each data check says whether constraints proved it or the rows were scanned, and when to run --deep', () => {
    for (const format of ['table', 'markdown'] as const) {
      const text = renderAudit(result, format);
      expect(text).toContain('null-tenant: scanned (1), proven by constraints or triggers (1: company_id is NOT NULL)');
      expect(text).toContain('cross-tenant-reference: proven by constraints or triggers, not scanned (2: validated composite foreign key)');
      expect(text).toMatch(/run `crm-tenancy audit --deep` after a logical-replication catch-up, a restore, or any write with session_replication_role = replica/);
    }
    // Everything scanned (--deep): no proof to doubt, no hint.
    const deep: AuditResult = {
      ...result,
      dataChecks: [{ check: 'null-tenant', status: 'scanned', proven: 0, scanned: 2 }],
      proofs: result.proofs.filter((p) => p.check === 'null-tenant').map((p) => ({ check: p.check, table: p.table, object: p.object, status: 'scanned' })),
      summary: { ...result.summary, deep: true },
    };
    const text = renderAudit(deep, 'table');
    expect(text).toContain('null-tenant: scanned (--deep) (2)');
    expect(text).not.toContain('audit --deep` after');
  });

  it('every documented format renders', () => {
    for (const format of AUDIT_FORMATS) expect(renderAudit(result, format).length).toBeGreaterThan(50);
  });
});
