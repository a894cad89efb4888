// `crm-tenancy audit --report FORMAT=FILE …`: several formats from one run beside the normal output, every
// report consistent with --fail-on, bad report options refused before the audit runs (real CLI, real database).
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, runCli } from '../support/cli.js';
import { useTestDatabase } from '../support/database.js';
import { sarifProblems } from './sarif-schema.js';

let dir: string;

describe('crm-tenancy audit --report (CLI)', () => {
  const db = useTestDatabase({ sample: true });
  let manifestLines: string[];
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'crmt-audit-reports-'));
    const text = await readFile(path.join(repoRoot, 'tenancy.yaml'), 'utf8');
    await writeFile(path.join(dir, 'tenancy.yaml'), text);
    manifestLines = text.split('\n');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const audit = (args: string[], env: NodeJS.ProcessEnv = {}, cwd = dir) => runCli(['audit', '--database-url', db().url, ...args], { cwd, env });
  const lineOf = (text: string) => manifestLines.indexOf(text) + 1;

  it('one run: SARIF, markdown and JUnit files plus the table on stdout, all from the same audit', async () => {
    const r = await audit(['--report', 'sarif=out.sarif', '--report', 'markdown=out.md', '--report', 'junit=out.xml']);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toMatch(/^crm-tenancy audit of public: FAILED — 47 errors, 54 warnings/);
    expect(r.stderr).toMatch(/wrote sarif out\.sarif: 47 errors, 54 warnings, 0 info\n/);
    expect(r.stderr).toMatch(/wrote markdown out\.md: 47 errors/);
    expect(r.stderr).toMatch(/wrote junit out\.xml: 47 errors/);
    const sarif = JSON.parse(await readFile(path.join(dir, 'out.sarif'), 'utf8'));
    const markdown = await readFile(path.join(dir, 'out.md'), 'utf8');
    const junit = await readFile(path.join(dir, 'out.xml'), 'utf8');
    // The same run: one duration in all three.
    const ms = sarif.runs[0].properties.summary.durationMs as number;
    expect(junit).toContain(`<testsuites name="crm-tenancy audit (--fail-on error)" tests=`);
    expect(junit).toMatch(new RegExp(`<testsuites [^>]*time="${(ms / 1000).toFixed(3).replace('.', '\\.')}">`));
    expect(markdown).toContain(` in ${(ms / 1000).toFixed(1)} s, `);
    expect(sarifProblems(sarif)).toEqual([]);
    expect(sarif.runs[0].results).toHaveLength(101);
    // Located at the manifest line declaring the table (cwd is the manifest's directory).
    const phones = sarif.runs[0].results.find((x: { ruleId: string; message: { text: string } }) => x.ruleId === 'null-tenant' && x.message.text.startsWith('1 row of public.phone_numbers'));
    expect(phones.locations[0].physicalLocation).toEqual({
      artifactLocation: { uri: 'tenancy.yaml', uriBaseId: '%SRCROOT%' },
      region: { startLine: lineOf('  phone_numbers:'), startColumn: 3 },
    });
    const lines = new Set(sarif.runs[0].results.map((x: { locations: { physicalLocation: { region: { startLine: number } } }[] }) => x.locations[0].physicalLocation.region.startLine));
    expect(lines.size).toBeGreaterThan(20);
    // The crm_app role finding (no table): at its line under roles.app.
    const role = sarif.runs[0].results.find((x: { ruleId: string }) => x.ruleId === 'app-role-bypasses-rls');
    expect(role.locations[0].physicalLocation.region.startLine).toBe(lineOf('  app: [crm_app]'));
    for (const rule of sarif.runs[0].tool.driver.rules) expect(rule.helpUri).toMatch(new RegExp(`^https://\\S+/docs/checks/${rule.id}\\.md$`));
    // JUnit: failures are the tables with errors; warnings pass with system-out.
    expect(Number(/<testsuites [^>]*failures="(\d+)"/.exec(junit)![1])).toBe(junit.match(/<failure [^>]*type="error"/g)!.length);
    expect(junit).not.toMatch(/<failure [^>]*type="warning"/);
    expect(junit).toMatch(/<system-out>\[warning\] [^<]*\(not gating: --fail-on error\)/);
    expect(markdown.split('\n')[0]).toBe('## crm-tenancy audit: ❌ failed — 47 findings at or above `--fail-on error`');
  });

  it('--fail-on never: exit 0, and no report calls 47 errors a pass', async () => {
    const r = await audit(['--fail-on', 'never', '--report', 'markdown=never.md', '--report', 'junit=never.xml']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^crm-tenancy audit of public: NOT GATED — 47 errors, 54 warnings/);
    expect(r.stdout).toMatch(/\nsummary: NOT GATED — 47 errors/);
    const markdown = await readFile(path.join(dir, 'never.md'), 'utf8');
    expect(markdown.split('\n')[0]).toBe('## crm-tenancy audit: ⚠️ not gating — 47 errors, 54 warnings found; `--fail-on never` fails on nothing');
    expect(markdown).not.toMatch(/passed/i);
    const junit = await readFile(path.join(dir, 'never.xml'), 'utf8');
    expect(junit).toMatch(/<testsuites [^>]*failures="0"/);
    expect(junit).not.toContain('<failure');
  });

  it('--docs-base-url: SARIF helpUri and markdown links under it; --json is short for --format json beside reports', async () => {
    const base = 'https://git.example.com/tools/crm-tenancy/-/blob/v0.1.0';
    const r = await audit(['--json', '--docs-base-url', `${base}/`, '--report', 'sarif=docs.sarif', '--report', 'markdown=docs.md', '--only', 'null-tenant']);
    expect(r.code, r.stderr).toBe(1);
    expect(JSON.parse(r.stdout).summary).toMatchObject({ checks: 1, error: 8 });
    const sarif = JSON.parse(await readFile(path.join(dir, 'docs.sarif'), 'utf8'));
    expect(sarif.runs[0].tool.driver.rules[0].helpUri).toBe(`${base}/docs/checks/null-tenant.md`);
    expect(await readFile(path.join(dir, 'docs.md'), 'utf8')).toContain(`### 🔴 [null-tenant](${base}/docs/checks/null-tenant.md) — 8 findings, gating`);
  });

  it('in GitHub Actions, SARIF paths are relative to $GITHUB_WORKSPACE (the checkout), not to the working directory', async () => {
    await mkdir(path.join(dir, 'db'), { recursive: true });
    await writeFile(path.join(dir, 'db', 'tenancy.yaml'), manifestLines.join('\n'));
    const r = await audit(['--only', 'null-tenant', '--report', 'sarif=ws.sarif'], { GITHUB_WORKSPACE: dir }, path.join(dir, 'db'));
    expect(r.code, r.stderr).toBe(1);
    const sarif = JSON.parse(await readFile(path.join(dir, 'db', 'ws.sarif'), 'utf8'));
    expect(sarif.runs[0].results[0].locations[0].physicalLocation.artifactLocation.uri).toBe('db/tenancy.yaml');
    expect(sarifProblems(sarif)).toEqual([]);
  });

  it('bad --report / --docs-base-url: one clear error, exit 2, before connecting, no file written', async () => {
    const cases: [string[], RegExp][] = [
      [['--report', 'sarif'], /--report sarif: expected FORMAT=FILE/],
      [['--report', 'sarfi=x.sarif'], /--report format must be one of table, json, sarif, junit, markdown, not sarfi \(did you mean sarif\?\)/],
      [['--report', 'sarif='], /--report sarif=: no file after =/],
      [['--report', 'sarif=same.out', '--report', 'junit=same.out'], /same\.out is named twice/],
      [['--output', 'same.out', '--report', 'junit=./same.out'], /same\.out is named twice/],
      [['--write-baseline', 'same.out', '--report', 'json=same.out'], /same\.out is named twice \(--output \/ --report \/ --write-baseline\)/],
      [['--report', 'markdown=no-such-dir/a.md'], /cannot write no-such-dir\/a\.md: directory no-such-dir does not exist/],
      [['--docs-base-url', 'ftp://example.com/docs'], /--docs-base-url must be an http\(s\) address, not ftp:\/\/example\.com\/docs/],
      [['--docs-base-url', 'docs'], /--docs-base-url must be an http\(s\) address/],
    ];
    for (const [args, message] of cases) {
      // A database that cannot be reached: the usage error comes first.
      const r = await runCli(['audit', '--database-url', 'postgres://x@127.0.0.1:1/db', ...args], { cwd: dir });
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr, args.join(' ')).toMatch(message);
      expect(r.stderr).not.toMatch(/cannot connect/);
    }
    expect(existsSync(path.join(dir, 'same.out'))).toBe(false);
    expect(existsSync(path.join(dir, 'x.sarif'))).toBe(false);
  });
});
