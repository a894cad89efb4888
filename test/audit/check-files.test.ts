// No check can pass silently: headers validated, every kind dispatched or refused, docs and README in step, one column contract.
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AUDITS_DIR, loadChecks, parseCheckFile } from '../../src/audit/check-definitions.js';
import { assertImplemented, DATA_CHECKS, planDataChecks, POLICY_CHECKS } from '../../src/audit/check-registry.js';
import { bindNamed, checkParams } from '../../src/audit/sql-params.js';
import { CATALOG_COLUMNS, type CheckDefinition } from '../../src/audit/types.js';
import { SAMPLE_MANIFEST } from '../../src/sample/sample-crm.js';
import { loadManifest } from '../../src/config/manifest.js';
import { packagePath } from '../../src/paths.js';
import { CHECK_TABLE_END, CHECK_TABLE_START, renderCheckTable, replaceCheckTable } from '../../src/report/check-table.js';
import { useTestDatabase } from '../support/database.js';

const header = (fields: Record<string, string>, body = 'SELECT 1') =>
  `${Object.entries(fields)
    .map(([k, v]) => `-- ${k}: ${v}`)
    .join('\n')}\n--\n-- what it does\n${body}\n`;
const valid = { id: 'new-check', title: 'A new check', severity: 'error', kind: 'catalog', remediation: 'Fix it.' };

/** The TenancyError a call throws (its code and every problem). */
function thrown(fn: () => unknown): { code: string; message: string; problems: readonly string[] } {
  try {
    fn();
  } catch (error) {
    return error as { code: string; message: string; problems: readonly string[] };
  }
  throw new Error('expected a throw');
}

describe('check files: headers', () => {
  it('a valid header parses', () => {
    expect(parseCheckFile('0099-new-check.sql', header(valid))).toMatchObject({ id: 'new-check', severity: 'error', kind: 'catalog', sql: 'SELECT 1' });
  });

  it('an unknown severity or kind, an id that is not the file name, a missing field: internal error listing every problem', () => {
    const e = thrown(() => parseCheckFile('0099-new-check.sql', header({ ...valid, id: 'other', severity: 'critical', kind: 'magic', title: '' })));
    expect(e.code).toBe('internal');
    expect(e.problems).toEqual([
      '0099-new-check.sql: header "-- id:" must be new-check, not other',
      '0099-new-check.sql: header "-- title:" is missing',
      '0099-new-check.sql: severity critical is not one of error, warning, info',
      '0099-new-check.sql: kind magic is not one of catalog, policy, data',
    ]);
    expect(thrown(() => parseCheckFile('new-check.sql', header(valid))).problems).toEqual([
      'new-check.sql: the file name must be NNNN-<kebab-case id>.sql',
    ]);
    expect(thrown(() => parseCheckFile('0099-new-check.sql', header(valid, ''))).problems).toEqual(['0099-new-check.sql: a catalog check needs its SQL']);
  });

  it('a directory with a malformed file name or two files of one id does not load (nothing is left out silently)', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'crmt-checks-'));
    try {
      await writeFile(path.join(dir, '0001-new-check.sql'), header(valid));
      expect((await loadChecks(dir)).map((c) => c.id)).toEqual(['new-check']);
      await writeFile(path.join(dir, '0002-new-check.sql'), header(valid));
      await expect(loadChecks(dir)).rejects.toMatchObject({ code: 'internal', message: 'two check files have the id new-check' });
      await rm(path.join(dir, '0002-new-check.sql'));
      await writeFile(path.join(dir, '2-New Check.sql'), header(valid));
      await expect(loadChecks(dir)).rejects.toMatchObject({ code: 'internal' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('check files: every kind is dispatched, or the audit refuses to run', () => {
  const synthetic = (kind: 'policy' | 'data', id: string, sections: Record<string, string> = {}): CheckDefinition => ({
    ...parseCheckFile(`0099-${id}.sql`, header({ ...valid, id, kind }, 'SELECT 1')),
    sections,
  });

  it('every shipped check has its implementation', async () => {
    const checks = await loadChecks();
    expect(() => assertImplemented(checks)).not.toThrow();
    for (const c of checks.filter((x) => x.kind === 'policy')) expect(Object.hasOwn(POLICY_CHECKS, c.id)).toBe(true);
    for (const c of checks.filter((x) => x.kind === 'data')) expect(Object.hasOwn(DATA_CHECKS, c.id)).toBe(true);
  });

  it('a policy or data check no code handles is an internal error, not a silent pass', async () => {
    const checks = await loadChecks();
    const policy = thrown(() => assertImplemented([...checks, synthetic('policy', 'new-policy-check')]));
    expect(policy.code).toBe('internal');
    expect(policy.problems).toEqual(['audits/0099-new-policy-check.sql: policy check new-policy-check has no implementation in src/audit/check-registry.ts']);
    const data = thrown(() => assertImplemented([synthetic('data', 'new-data-check')]));
    expect(data.problems).toEqual(['audits/0099-new-data-check.sql: data check new-data-check has no planner in src/audit/check-registry.ts']);
    // An id that is a property of every object is not an implementation either.
    expect(thrown(() => assertImplemented([synthetic('policy', 'constructor')])).code).toBe('internal');
    // The planner itself refuses (runAudit plans through it).
    const manifest = await loadManifest(SAMPLE_MANIFEST);
    expect(thrown(() => planDataChecks(manifest, { relations: [] } as never, [synthetic('data', 'new-data-check')])).code).toBe('internal');
  });

  it('a data check without a section its planner needs is an internal error', async () => {
    const nullTenant = (await loadChecks()).find((c) => c.id === 'null-tenant')!;
    const unknown = (await loadChecks()).find((c) => c.id === 'unknown-tenant')!;
    const e = thrown(() => assertImplemented([{ ...nullTenant, sections: {} }, { ...unknown, sections: { join: unknown.sections.join } }]));
    expect(e.problems).toEqual([
      'audits/0005-null-tenant.sql: data check null-tenant lacks its "-- @condition" section',
      'audits/0030-unknown-tenant.sql: data check unknown-tenant lacks its "-- @condition" section',
    ]);
  });
});

describe('check files: docs and README', () => {
  it('every audits/*.sql has its docs/checks/<id>.md, and every doc page its check', async () => {
    const checks = await loadChecks();
    const sql = (await readdir(AUDITS_DIR)).filter((f) => f.endsWith('.sql'));
    expect(checks).toHaveLength(sql.length);
    const docs = (await readdir(packagePath('docs/checks'))).filter((f) => f.endsWith('.md')).sort();
    expect(docs).toEqual(checks.map((c) => `${c.id}.md`).sort());
    for (const c of checks) expect(await readFile(packagePath(c.docs), 'utf8')).toContain(`\`${c.id}\``);
  });

  it("the README's table of checks is the one generated from the headers (npx tsx scripts/check-table.ts)", async () => {
    const readme = await readFile(packagePath('README.md'), 'utf8');
    const checks = await loadChecks();
    expect(readme).toContain(CHECK_TABLE_START);
    expect(readme).toContain(CHECK_TABLE_END);
    expect(replaceCheckTable(readme, renderCheckTable(checks))).toBe(readme);
    // One row per check, each linked to its page.
    const rows = readme.split('\n').filter((l) => l.startsWith('| [`'));
    expect(rows.map((r) => /^\| \[`([a-z0-9-]+)`\]\(docs\/checks\/\1\.md\)/.exec(r)?.[1])).toEqual(checks.map((c) => c.id));
  });

  it('the generated table escapes pipes, and a changed header shows as a difference', async () => {
    const checks = await loadChecks();
    const changed = checks.map((c, i) => (i === 0 ? { ...c, title: 'a | b' } : c));
    const table = renderCheckTable(changed);
    expect(table).toContain('| a \\| b |');
    const readme = await readFile(packagePath('README.md'), 'utf8');
    expect(replaceCheckTable(readme, table)).not.toBe(readme);
  });
});

describe('catalog checks: one column contract', () => {
  const db = useTestDatabase({ sample: true });

  it('every catalog check returns (table_name text, object text, count bigint, samples text[], message text, severity text)', async () => {
    const manifest = await loadManifest(SAMPLE_MANIFEST);
    // The runner's parameters, with an application role of this test's choosing and nothing to bypass.
    const base = checkParams(manifest);
    const params = { ...base, app_roles: ['crm_app'], bypass_roles: [], bypass_reasons: [], definer_functions: [], definer_reasons: [] };
    const { rows: types } = await db().client.query<{ oid: number; typname: string }>(
      `SELECT oid::int, typname::text FROM pg_type WHERE typname IN ('text', 'int8', '_text')`,
    );
    const name = new Map(types.map((t) => [t.oid, t.typname]));
    const catalog = (await loadChecks()).filter((c) => c.kind === 'catalog');
    expect(catalog.length).toBeGreaterThanOrEqual(17);
    const shapes: Record<string, string[]> = {};
    for (const check of catalog) {
      const { text, values } = bindNamed(check.sql, params);
      const result = await db().client.query(text, values);
      shapes[check.id] = result.fields.map((f) => `${f.name} ${name.get(f.dataTypeID) ?? f.dataTypeID}`);
    }
    const contract = [...CATALOG_COLUMNS].map((c, i) => `${c} ${['text', 'text', 'int8', '_text', 'text', 'text'][i]}`);
    expect(shapes).toEqual(Object.fromEntries(catalog.map((c) => [c.id, contract])));
  });
});
