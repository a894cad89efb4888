// JUnit: a failure only for a finding at or above --fail-on; lower ones pass with the finding in
// <system-out>; waived ones are skipped; times from the audit's per-check runs.
import { describe, expect, it } from 'vitest';
import { renderJunit } from '../../src/report/junit.js';
import { auditResult, type FindingInput } from './fixture.js';

const FINDINGS: FindingInput[] = [
  { check: 'null-tenant', severity: 'error', table: 'public.deals', count: 2, samples: [4, 7], message: '2 rows of public.deals have no company_id' },
  { check: 'fk-not-tenant-scoped', severity: 'warning', table: 'public.contacts', message: 'public.contacts has 1 foreign key without the tenant' },
  { check: 'app-role-bypasses-rls', severity: 'info', object: 'crm_support', message: 'bypass role crm_support sees every tenant' },
  { check: 'rls-disabled', severity: 'error', table: 'public.companies', message: 'public.companies has no RLS', waived: { by: 'waiver', reason: 'CRM-7' } },
];

const testcase = (xml: string, check: string, name: string): string => {
  const start = xml.indexOf(`<testcase classname="crm-tenancy.${check}" name="${name}"`);
  expect(start, `${check} ${name}`).toBeGreaterThanOrEqual(0);
  const selfClosed = xml.indexOf('</testcase>', start);
  return xml.slice(start, selfClosed + '</testcase>'.length);
};
const total = (xml: string, attr: string): number => Number(new RegExp(`<testsuites [^>]*${attr}="(\\d+)"`).exec(xml)![1]);

describe('JUnit and --fail-on', () => {
  it('--fail-on error: the error fails; the warning and the info pass with system-out; the waived one is skipped', async () => {
    const xml = renderJunit(await auditResult(FINDINGS, 'error'));
    expect(total(xml, 'failures')).toBe(1);
    expect(xml.match(/<failure /g)).toHaveLength(1);
    expect(testcase(xml, 'null-tenant', 'public.deals')).toContain('<failure message="Rows whose tenant is NULL" type="error">[error] 2 rows of public.deals have no company_id');
    const warning = testcase(xml, 'fk-not-tenant-scoped', 'public.contacts');
    expect(warning).not.toContain('<failure');
    expect(warning).toContain('<system-out>[warning] public.contacts has 1 foreign key without the tenant (not gating: --fail-on error)');
    expect(testcase(xml, 'app-role-bypasses-rls', 'crm_support')).toContain('<system-out>[info] bypass role crm_support sees every tenant (not gating: --fail-on error)');
    expect(testcase(xml, 'rls-disabled', 'public.companies')).toContain('<skipped message="waived: CRM-7"/>');
    expect(total(xml, 'skipped')).toBe(1);
  });

  it('--fail-on warning: the warning fails too; --fail-on info: the info too', async () => {
    const warning = renderJunit(await auditResult(FINDINGS, 'warning'));
    expect(total(warning, 'failures')).toBe(2);
    expect(testcase(warning, 'fk-not-tenant-scoped', 'public.contacts')).toMatch(/<failure message="[^"]+" type="warning">\[warning\] public\.contacts has 1 foreign key/);
    const info = renderJunit(await auditResult(FINDINGS, 'info'));
    expect(total(info, 'failures')).toBe(3);
    expect(testcase(info, 'app-role-bypasses-rls', 'crm_support')).toMatch(/<failure message="[^"]+" type="info">/);
  });

  it('--fail-on never: no failure at all, every finding still in system-out', async () => {
    const xml = renderJunit(await auditResult(FINDINGS, 'never'));
    expect(total(xml, 'failures')).toBe(0);
    expect(xml).not.toContain('<failure');
    expect(testcase(xml, 'null-tenant', 'public.deals')).toContain('<system-out>[error] 2 rows of public.deals have no company_id (not gating: --fail-on never)');
    expect(xml).toMatch(/^<\?xml version="1\.0" encoding="UTF-8"\?>\n<testsuites name="crm-tenancy audit \(--fail-on never\)"/);
  });

  it("times: the run's on the root, each check's queries on its suite, a table's own query on its case", async () => {
    const base = await auditResult(FINDINGS, 'error');
    const result = {
      ...base,
      runs: [
        { check: 'null-tenant', target: 'deals', ms: 250, findings: 1 },
        { check: 'null-tenant', target: 'contacts', ms: 1500, findings: 0 },
        { check: 'rls-disabled', ms: 42, findings: 1 },
      ],
    };
    const xml = renderJunit(result);
    expect(xml).toMatch(/<testsuites [^>]*time="1\.234">/);
    expect(xml).toMatch(/<testsuite name="null-tenant" [^>]*time="1\.750">/);
    expect(xml).toMatch(/<testsuite name="rls-disabled" [^>]*time="0\.042">/);
    expect(testcase(xml, 'null-tenant', 'public.deals')).toMatch(/^<testcase classname="crm-tenancy\.null-tenant" name="public\.deals" time="0\.250">/);
    expect(testcase(xml, 'null-tenant', 'public.contacts')).toMatch(/ time="1\.500">/);
    // One catalog query judged every table: the time is the suite's, not repeated on each case.
    expect(testcase(xml, 'rls-disabled', 'public.deals')).not.toContain('time=');
  });
});
