// Markdown: the verdict follows --fail-on (never "passed" above ungated errors), counts agree with it,
// links are absolute (a CI job summary has no repository to resolve relative ones), each check's fix once.
import { describe, expect, it } from 'vitest';
import { renderMarkdown } from '../../src/report/markdown.js';
import { auditResult, type FindingInput } from './fixture.js';

const errors = (n: number): FindingInput[] =>
  Array.from({ length: n }, (_, i) => ({ check: 'null-tenant', severity: 'error' as const, table: `public.t${i}`, count: 1, samples: [i], message: `1 row of public.t${i} has no company_id` }));
const warnings = (n: number): FindingInput[] =>
  Array.from({ length: n }, (_, i) => ({ check: 'fk-not-tenant-scoped', severity: 'warning' as const, table: `public.t${i}`, message: `public.t${i} has 1 foreign key without the tenant` }));
const BASE = 'https://github.com/acme/crm-tenancy/blob/v1';

describe('markdown verdict and counts', () => {
  it('--fail-on never with 47 errors: "not gating", never "passed"; the counts say nothing gates', async () => {
    const md = renderMarkdown(await auditResult([...errors(47), ...warnings(54)], 'never'), { docsBaseUrl: BASE });
    const lines = md.split('\n');
    expect(lines[0]).toBe('## crm-tenancy audit: ⚠️ not gating — 47 errors, 54 warnings found; `--fail-on never` fails on nothing');
    expect(md).not.toMatch(/passed/i);
    expect(md).toContain('Gate `--fail-on never`: **0** gating; not gating: 47 errors, 54 warnings.');
    expect(md).toContain('— 47 findings, not gating');
  });

  it('--fail-on error: failed with the gating count; warnings below the gate said so', async () => {
    const md = renderMarkdown(await auditResult([...errors(47), ...warnings(54)], 'error'), { docsBaseUrl: BASE });
    expect(md.split('\n')[0]).toBe('## crm-tenancy audit: ❌ failed — 47 findings at or above `--fail-on error`');
    expect(md).toContain('**47** errors · **54** warnings · **0** info · 0 waived');
    expect(md).toContain('Gate `--fail-on error`: **47** gating (47 errors); not gating: 54 warnings.');
    expect(md).toContain(`### 🔴 [null-tenant](${BASE}/docs/checks/null-tenant.md) — 47 findings, gating`);
    expect(md).toContain(`### 🟠 [fk-not-tenant-scoped](${BASE}/docs/checks/fk-not-tenant-scoped.md) — 54 findings, not gating`);
  });

  it('--fail-on warning: the warnings gate too, and the count is their sum', async () => {
    const md = renderMarkdown(await auditResult([...errors(2), ...warnings(3)], 'warning'));
    expect(md.split('\n')[0]).toBe('## crm-tenancy audit: ❌ failed — 5 findings at or above `--fail-on warning`');
    expect(md).toContain('Gate `--fail-on warning`: **5** gating (2 errors, 3 warnings); not gating: none.');
  });

  it('passed: only warnings under --fail-on error (named as below the gate); nothing at all', async () => {
    const below = renderMarkdown(await auditResult(warnings(3), 'error'));
    expect(below.split('\n')[0]).toBe('## crm-tenancy audit: ✅ passed — nothing at or above `--fail-on error`; 3 warnings below it');
    const clean = renderMarkdown(await auditResult([], 'never'));
    expect(clean.split('\n')[0]).toBe('## crm-tenancy audit: ✅ passed — no findings (`--fail-on never`)');
  });

  it('waived findings neither gate nor count as findings; a mixed check says how many of it gate', async () => {
    const result = await auditResult(
      [
        { check: 'app-role-bypasses-rls', severity: 'error', object: 'crm_app', message: 'crm_app bypasses row-level security' },
        { check: 'app-role-bypasses-rls', severity: 'warning', object: 'crm_worker', message: 'crm_worker is a member of crm_app' },
        { ...errors(1)[0], waived: { by: 'waiver', reason: 'ticket CRM-9' } },
      ],
      'error',
    );
    const md = renderMarkdown(result, { docsBaseUrl: BASE });
    expect(md.split('\n')[0]).toBe('## crm-tenancy audit: ❌ failed — 1 finding at or above `--fail-on error`');
    expect(md).toContain('Gate `--fail-on error`: **1** gating (1 error); not gating: 1 warning, 1 waived.');
    expect(md).toContain('— 2 findings, 1 gating');
    expect(md).toContain(`| [null-tenant](${BASE}/docs/checks/null-tenant.md) | public.t0 | ticket CRM-9 |`);
  });
});

describe('markdown links and fixes', () => {
  it("every link is absolute under the base address; each check's fix once, above its findings", async () => {
    const result = await auditResult([...errors(3), ...warnings(2)]);
    const md = renderMarkdown(result, { docsBaseUrl: `${BASE}/` });
    const links = [...md.matchAll(/\]\(([^)]+)\)/g)].map((m) => m[1]);
    expect(links.length).toBeGreaterThan(0);
    for (const link of links) expect(link).toMatch(/^https:\/\/github\.com\/acme\/crm-tenancy\/blob\/v1\/docs\/checks\/[a-z-]+\.md$/);
    for (const id of ['null-tenant', 'fk-not-tenant-scoped']) {
      const check = result.checks.find((c) => c.id === id)!;
      expect(md.split(`**Fix:** ${check.remediation}`)).toHaveLength(2);
      const section = md.slice(md.indexOf(`[${id}]`));
      expect(section.indexOf('**Fix:**')).toBeLessThan(section.indexOf('| 🔴') === -1 ? section.indexOf('| 🟠') : section.indexOf('| 🔴'));
    }
    // Worst first: the error check's section comes before the warning check's.
    expect(md.indexOf('### 🔴')).toBeLessThan(md.indexOf('### 🟠'));
  });
});
