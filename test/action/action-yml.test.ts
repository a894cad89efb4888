// action.yml: its inputs and steps as GitHub reads them, and its shell steps run for real (against the sample CRM) the way a runner would.
import { spawn } from 'node:child_process';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { repoRoot } from '../support/cli.js';
import { useTestDatabase, withDatabase } from '../support/database.js';

interface Step {
  name?: string;
  id?: string;
  if?: string;
  uses?: string;
  with?: Record<string, string>;
  shell?: string;
  env?: Record<string, string>;
  run?: string;
  'working-directory'?: string;
}
interface Action {
  name: string;
  description: string;
  inputs: Record<string, { description: string; required?: boolean; default?: string }>;
  outputs: Record<string, { description: string; value: string }>;
  runs: { using: string; steps: Step[] };
}

const loadAction = async (): Promise<Action> => parse(await readFile(path.join(repoRoot, 'action.yml'), 'utf8')) as Action;

describe('action.yml as GitHub reads it', () => {
  let action: Action;
  beforeAll(async () => {
    action = await loadAction();
  });

  it('is a composite action with the documented inputs and defaults', () => {
    expect(action.runs.using).toBe('composite');
    expect(action.inputs['database-url'].required).toBe(true);
    expect(action.inputs['database-url'].default).toBeUndefined();
    expect(Object.fromEntries(Object.entries(action.inputs).map(([k, v]) => [k, v.default]))).toEqual({
      'database-url': undefined,
      config: 'tenancy.yaml',
      'fail-on': 'error',
      'sarif-file': 'crm-tenancy.sarif',
      'upload-sarif': 'true',
      'sarif-category': 'crm-tenancy',
      'markdown-file': 'crm-tenancy.md',
      'junit-file': '',
      'docs-base-url': '',
      'step-summary': 'true',
      'audit-args': '',
      package: '',
      'node-version': '20',
      'working-directory': '.',
    });
    for (const [name, input] of Object.entries(action.inputs)) expect(input.description, name).toMatch(/\S/);
    expect(Object.keys(action.outputs)).toEqual(['exit-code', 'sarif-file', 'markdown-file', 'junit-file']);
  });

  it('sets up Node, installs, audits once (every report from that run, and the gate), uploads, and fails with the exit code', () => {
    const steps = action.runs.steps;
    expect(steps.map((s) => s.id ?? s.uses)).toEqual(['actions/setup-node@v4', 'install', 'audit', 'github/codeql-action/upload-sarif@v3', 'result']);
    const by = (id: string) => steps.find((s) => s.id === id)!;
    // One audit run in the whole action.
    expect(steps.map((s) => s.run ?? '').join('\n').match(/node "\$CRM_TENANCY"/g)).toHaveLength(1);
    expect(by('audit').run).toContain('args=(audit --config "$CONFIG" --fail-on "$FAIL_ON")');
    expect(by('audit').run).toContain('args+=(--report "sarif=$SARIF_FILE")');
    expect(by('audit').run).toContain('args+=(--report "markdown=$MARKDOWN_FILE")');
    expect(by('audit').run).toContain('args+=(--report "junit=$JUNIT_FILE")');
    expect(by('audit').run).toContain('>> "$GITHUB_STEP_SUMMARY"');
    expect(by('result').run).toMatch(/exit "\$code"\s*$/);
    const upload = steps.find((s) => s.uses?.startsWith('github/codeql-action/upload-sarif'))!;
    expect(upload.with).toEqual({ sarif_file: '${{ steps.audit.outputs.sarif-file }}', category: '${{ inputs.sarif-category }}' });
    expect(action.outputs['exit-code'].value).toBe('${{ steps.result.outputs.exit-code }}');
  });

  it('every run step is bash, and no script splices an expression into its text (inputs arrive as env)', () => {
    for (const step of action.runs.steps.filter((s) => s.run !== undefined)) {
      expect(step.shell, step.name).toBe('bash');
      expect(step.run, step.name).not.toMatch(/\$\{\{/);
    }
    // The database URL only ever travels as DATABASE_URL.
    const uses = action.runs.steps.flatMap((s) => Object.entries(s.env ?? {}).filter(([, v]) => v.includes('inputs.database-url')).map(([k]) => k));
    expect(uses).toEqual(['DATABASE_URL']);
  });
});

/** Evaluates the few expression forms action.yml uses; anything else fails the test. */
function expression(expr: string, ctx: Run): string {
  const e = expr.trim();
  let m: RegExpExecArray | null;
  if ((m = /^inputs\.([\w-]+)$/.exec(e))) return ctx.inputs[m[1]] ?? ctx.action.inputs[m[1]]?.default ?? '';
  if ((m = /^steps\.([\w-]+)\.outputs\.([\w-]+)$/.exec(e))) return ctx.outputs[m[1]]?.[m[2]] ?? '';
  if (e === 'github.action_path') return repoRoot;
  throw new Error(`unsupported expression: ${e}`);
}
const expand = (text: string, ctx: Run) => text.replace(/\$\{\{(.+?)\}\}/g, (_, e: string) => expression(e, ctx));

/** `if:` conditions: `A == 'x' && B == 'y'`. */
function condition(text: string, ctx: Run): boolean {
  const inner = text.replace(/^\$\{\{(.*)\}\}$/s, '$1');
  return inner.split('&&').every((part) => {
    const m = /^\s*([\w.-]+)\s*==\s*'([^']*)'\s*$/.exec(part);
    if (!m) throw new Error(`unsupported condition: ${part}`);
    return expression(m[1], ctx) === m[2];
  });
}

interface Run {
  action: Action;
  inputs: Record<string, string>;
  outputs: Record<string, Record<string, string>>;
  workspace: string;
  summary: string;
  env: NodeJS.ProcessEnv;
  log: string;
  /** uses: steps that would have run. */
  used: { uses: string; with: Record<string, string> }[];
}

function bash(script: string, cwd: string, env: NodeJS.ProcessEnv): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) => {
    // What a runner does for `shell: bash`.
    const child = spawn('bash', ['--noprofile', '--norc', '-eo', 'pipefail', '-c', script], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, out }));
  });
}

/** Runs the action's steps like a runner: `uses` steps recorded (not run), `install` skipped unless asked. */
async function runAction(
  action: Action,
  inputs: Record<string, string>,
  workspace: string,
  options: { install?: boolean; path?: string } = {},
): Promise<Run & { code: number }> {
  const base: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (k !== 'DATABASE_URL' && !k.startsWith('PG')) base[k] = v;
  const runnerTemp = await mkdtemp(path.join(tmpdir(), 'crmt-runner-'));
  const run: Run = {
    action,
    inputs,
    outputs: { install: { bin: path.join(repoRoot, 'bin', 'crm-tenancy.js') } },
    workspace,
    summary: path.join(runnerTemp, 'summary.md'),
    env: { ...base, NO_COLOR: '1', RUNNER_TEMP: runnerTemp, GITHUB_WORKSPACE: workspace, ...(options.path ? { PATH: `${options.path}:${base.PATH}` } : {}) },
    log: '',
    used: [],
  };
  await writeFile(run.summary, '');
  for (const step of action.runs.steps) {
    if (step.if && !condition(step.if, run)) continue;
    if (step.uses) {
      run.used.push({ uses: step.uses, with: Object.fromEntries(Object.entries(step.with ?? {}).map(([k, v]) => [k, expand(v, run)])) });
      continue;
    }
    if (step.id === 'install' && !options.install) continue;
    const output = path.join(runnerTemp, `output-${step.id}`);
    await writeFile(output, '');
    const env: NodeJS.ProcessEnv = { ...run.env, GITHUB_OUTPUT: output, GITHUB_STEP_SUMMARY: run.summary };
    for (const [k, v] of Object.entries(step.env ?? {})) env[k] = expand(v, run);
    const cwd = path.resolve(workspace, expand(step['working-directory'] ?? '.', run));
    const result = await bash(step.run!, cwd, env);
    run.log += result.out;
    run.outputs[step.id!] = Object.fromEntries(
      (await readFile(output, 'utf8')).split('\n').filter(Boolean).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    if (result.code !== 0) return { ...run, code: result.code };
  }
  return { ...run, code: 0 };
}

describe('action.yml run like a runner runs it (built CLI, real PostgreSQL, sample CRM)', () => {
  const db = useTestDatabase({ sample: true });
  let action: Action;
  let workspace: string;
  beforeAll(async () => {
    action = await loadAction();
    workspace = await mkdtemp(path.join(tmpdir(), 'crmt-workspace-'));
    await mkdir(path.join(workspace, 'db'));
    await copyFile(path.join(repoRoot, 'tenancy.yaml'), path.join(workspace, 'db', 'tenancy.yaml'));
  });
  afterAll(async () => {
    await rm(workspace, { recursive: true, force: true });
  });

  it('findings at or above fail-on: one audit run writes SARIF (uploaded) and markdown (job summary); the job fails with 1', async () => {
    const r = await runAction(action, { 'database-url': db().url, 'working-directory': 'db' }, workspace);
    expect(r.code, r.log).toBe(1);
    expect(r.outputs.result['exit-code']).toBe('1');
    expect(r.log).toContain('::error title=crm-tenancy audit::findings at or above --fail-on error');
    // One run: its plain-text report is in the log once.
    expect(r.log.match(/crm-tenancy audit of public: FAILED/g)).toHaveLength(1);
    const sarifFile = path.join(workspace, 'db', 'crm-tenancy.sarif');
    const markdownFile = path.join(workspace, 'db', 'crm-tenancy.md');
    expect(r.outputs.audit).toEqual({
      'exit-code': '1',
      'sarif-file': sarifFile,
      'sarif-written': 'true',
      'markdown-file': markdownFile,
      'markdown-written': 'true',
      'junit-file': '',
      'junit-written': 'false',
    });
    const sarif = JSON.parse(await readFile(sarifFile, 'utf8'));
    expect(sarif.version).toBe('2.1.0');
    expect(sarif.runs[0].results.length).toBeGreaterThan(0);
    // Paths relative to the checkout ($GITHUB_WORKSPACE), not to working-directory: db/tenancy.yaml, at the table's line.
    const phones = sarif.runs[0].results.find(
      (x: { ruleId: string; message: { text: string } }) => x.ruleId === 'null-tenant' && x.message.text.includes('public.phone_numbers'),
    );
    const manifestLines = (await readFile(path.join(workspace, 'db', 'tenancy.yaml'), 'utf8')).split('\n');
    expect(phones.locations[0].physicalLocation).toEqual({
      artifactLocation: { uri: 'db/tenancy.yaml', uriBaseId: '%SRCROOT%' },
      region: { startLine: manifestLines.indexOf('  phone_numbers:') + 1, startColumn: 3 },
    });
    expect(r.used.map((u) => u.uses)).toEqual(['actions/setup-node@v4', 'github/codeql-action/upload-sarif@v3']);
    expect(r.used[1].with).toEqual({ sarif_file: sarifFile, category: 'crm-tenancy' });
    const markdown = await readFile(markdownFile, 'utf8');
    expect(markdown).toMatch(/^## crm-tenancy audit: ❌ failed — 47 findings at or above `--fail-on error`/);
    expect(markdown).toMatch(/\[null-tenant\]\(https:\/\/[^)]+\/docs\/checks\/null-tenant\.md\)/);
    expect(await readFile(r.summary, 'utf8')).toBe(markdown);
  });

  it('fail-on never: the same findings, the job passes (exit 0), and neither the log nor the summary calls it passed', async () => {
    const r = await runAction(action, { 'database-url': db().url, 'working-directory': 'db', 'fail-on': 'never' }, workspace);
    expect(r.code, r.log).toBe(0);
    expect(r.outputs.result['exit-code']).toBe('0');
    expect(r.log).toContain('crm-tenancy audit ran with --fail-on never: findings do not fail the job');
    expect(r.log).not.toContain('audit passed');
    const summary = await readFile(r.summary, 'utf8');
    expect(summary.split('\n')[0]).toBe('## crm-tenancy audit: ⚠️ not gating — 47 errors, 54 warnings found; `--fail-on never` fails on nothing');
  });

  it('junit-file and docs-base-url: the JUnit report from the same run, links under the given address', async () => {
    const r = await runAction(
      action,
      { 'database-url': db().url, 'working-directory': 'db', 'junit-file': 'tenancy.xml', 'docs-base-url': 'https://git.example.com/tools/crm-tenancy/blob/v1' },
      workspace,
    );
    expect(r.code, r.log).toBe(1);
    expect(r.log.match(/crm-tenancy audit of public:/g)).toHaveLength(1);
    const junitFile = path.join(workspace, 'db', 'tenancy.xml');
    expect(r.outputs.audit['junit-file']).toBe(junitFile);
    expect(await readFile(junitFile, 'utf8')).toMatch(/<testsuites name="crm-tenancy audit \(--fail-on error\)" tests="\d+" failures="\d+"/);
    const sarif = JSON.parse(await readFile(path.join(workspace, 'db', 'crm-tenancy.sarif'), 'utf8'));
    expect(sarif.runs[0].tool.driver.rules[0].helpUri).toBe(`https://git.example.com/tools/crm-tenancy/blob/v1/docs/checks/${sarif.runs[0].tool.driver.rules[0].id}.md`);
  });

  it('no SARIF asked: no upload, the gate still runs; no step summary when turned off', async () => {
    const r = await runAction(
      action,
      { 'database-url': db().url, 'working-directory': 'db', 'sarif-file': '', 'step-summary': 'false', 'markdown-file': 'out/report.md' },
      workspace,
    );
    // out/ does not exist: the audit refuses before it runs (exit 2), and the job says it could not run.
    expect(r.code).toBe(2);
    expect(r.log).toContain('cannot write out/report.md: directory out does not exist');
    expect(r.used.map((u) => u.uses)).toEqual(['actions/setup-node@v4']);
    await mkdir(path.join(workspace, 'db', 'out'));
    const ok = await runAction(
      action,
      { 'database-url': db().url, 'working-directory': 'db', 'sarif-file': '', 'step-summary': 'false', 'markdown-file': 'out/report.md', 'fail-on': 'never' },
      workspace,
    );
    expect(ok.code, ok.log).toBe(0);
    expect(ok.used.map((u) => u.uses)).toEqual(['actions/setup-node@v4']);
    expect(ok.outputs.audit['sarif-written']).toBe('false');
    expect(ok.outputs.audit['markdown-file']).toBe(path.join(workspace, 'db', 'out', 'report.md'));
    expect(await readFile(ok.summary, 'utf8')).toBe('');
  });

  it('a database that cannot be reached: no SARIF uploaded, no summary, the job fails with 2', async () => {
    const r = await runAction(action, { 'database-url': withDatabase(db().url, 'crmt_no_such_database'), 'working-directory': 'db' }, workspace);
    expect(r.code).toBe(2);
    expect(r.outputs.audit['sarif-written']).toBe('false');
    expect(r.used.map((u) => u.uses)).toEqual(['actions/setup-node@v4']);
    expect(await readFile(r.summary, 'utf8')).toBe('');
    expect(r.log).toContain('::error title=crm-tenancy audit::the audit could not run (exit 2)');
  });

  it('install: the action’s own source by default (npm ci, falling back to npm install), or an npm package', async () => {
    // A stand-in npm on PATH records its arguments (no registry is contacted); `ci` fails to exercise the fallback.
    const fake = await mkdtemp(path.join(tmpdir(), 'crmt-fake-npm-'));
    const calls = path.join(fake, 'calls');
    await writeFile(path.join(fake, 'npm'), `#!/bin/sh\necho "$PWD|$*" >> "${calls}"\n[ "$1" != ci ]\n`);
    await chmod(path.join(fake, 'npm'), 0o755);
    const own = await runAction(action, { 'database-url': db().url, 'working-directory': 'db', 'fail-on': 'never' }, workspace, { install: true, path: fake });
    expect(own.code, own.log).toBe(0);
    expect(own.log).toContain('::warning::npm ci refused the lock file');
    expect(own.outputs.install.bin).toBe(path.join(repoRoot, 'bin', 'crm-tenancy.js'));
    const fromNpm = await runAction(
      action,
      { 'database-url': db().url, 'working-directory': 'db', package: 'crm-tenancy@0.1.0' },
      workspace,
      { install: true, path: fake },
    );
    // The stand-in installed nothing: the install step itself stops the job with 2 (not 1, "findings").
    expect(fromNpm.code).toBe(2);
    expect(fromNpm.log).toContain('::error title=crm-tenancy audit::crm-tenancy did not install (crm-tenancy@0.1.0)');
    expect(fromNpm.outputs.audit).toBeUndefined();
    expect(fromNpm.outputs.install.bin).toMatch(/crmt-runner-\w+\/crm-tenancy\/node_modules\/\.bin\/crm-tenancy$/);
    const lines = (await readFile(calls, 'utf8')).trim().split('\n');
    expect(lines[0]).toBe(`${repoRoot}|ci --no-audit --no-fund`);
    expect(lines[1]).toBe(`${repoRoot}|install --no-audit --no-fund`);
    expect(lines[2]).toMatch(/\|install --prefix \S+\/crm-tenancy --no-save --no-audit --no-fund crm-tenancy@0\.1\.0$/);
    await rm(fake, { recursive: true, force: true });
  });
});

describe("the README's CI example", () => {
  it('uses the action with inputs it has, the required one included', async () => {
    const action = await loadAction();
    const readme = await readFile(path.join(repoRoot, 'README.md'), 'utf8');
    const ci = readme.slice(readme.indexOf('\n## CI\n'));
    const block = /```yaml\n([\s\S]*?)```/.exec(ci)![1];
    const workflow = parse(block) as { jobs: Record<string, { permissions: Record<string, string>; steps: Step[] }> };
    const job = Object.values(workflow.jobs)[0];
    const step = job.steps.find((s) => s.uses?.includes('/crm-tenancy@'))!;
    expect(step).toBeDefined();
    for (const key of Object.keys(step.with ?? {})) expect(Object.keys(action.inputs)).toContain(key);
    expect(step.with?.['database-url']).toMatch(/^\$\{\{ secrets\.\w+ \}\}$/);
    expect(job.permissions['security-events']).toBe('write');
    expect(job.steps[0].uses).toBe('actions/checkout@v4');
    // No hand-rolled audit steps left beside the action.
    expect(job.steps.filter((s) => s.run?.includes('crm-tenancy audit'))).toEqual([]);
  });
});
