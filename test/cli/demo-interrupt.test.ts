// Ctrl-C on `demo`: no crash while loading, exit 130 with one line, the embedded server stopped and its data directory removed (also with --keep).
import { execFileSync } from 'node:child_process';
import { chmod, mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startCli } from './spawn-cli.js';

/** A TMPDIR of its own (world-enterable: as root the server runs as another OS user), so what is left in it is this run's. */
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'crmt-demo-int-'));
  await chmod(dir, 0o755);
  return dir;
}

/** Processes whose command line names `dir` (a postgres started with -D inside it). */
function processesUsing(dir: string): string[] {
  const ps = execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' });
  return ps.split('\n').filter((l) => l.includes(dir) && !l.includes(' ps -eo'));
}

async function leftovers(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((f) => f.startsWith('crm-tenancy-'));
}

function expectOneLine(stderr: string): string {
  const lines = stderr.split('\n').filter((l) => l.startsWith('interrupted:'));
  expect(lines, stderr).toHaveLength(1);
  expect(stderr).not.toMatch(/^error:/m);
  expect(stderr).not.toMatch(/\n\s+at /);
  expect(stderr).not.toMatch(/Connection terminated|unhandled|terminating connection/i);
  return lines[0];
}

describe('Ctrl-C on demo', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
  });

  it('while loading, as a terminal sends it (to the whole process group, the server too): exit 130, nothing left', async () => {
    const tmp = await tempDir();
    dirs.push(tmp);
    const cli = startCli(['demo'], { env: { TMPDIR: tmp }, group: true });
    await cli.waitFor(/^▶ load the sample CRM$/m, 'stdout', 120_000);
    expect(await leftovers(tmp)).toEqual(expect.arrayContaining([expect.stringMatching(/^crm-tenancy-pg-/)]));
    cli.signal('SIGINT', { group: true });
    const { code } = await cli.exited;
    expect(code, cli.stderr()).toBe(130);
    expect(expectOneLine(cli.stderr())).toBe(
      'interrupted: demo stopped during "load the sample CRM": the embedded PostgreSQL is stopped and its data directory removed; ' +
        'run `crm-tenancy demo` again to start over',
    );
    expect(await leftovers(tmp)).toEqual([]);
    expect(processesUsing(tmp)).toEqual([]);
  }, 180_000);

  it('--keep, then Ctrl-C: the kept server is stopped and its data directory removed, exit 130', async () => {
    const tmp = await tempDir();
    dirs.push(tmp);
    const cli = startCli(['demo', '--keep'], { env: { TMPDIR: tmp } });
    const [, dataDir] = await cli.waitFor(/^data directory (\S+); Ctrl-C stops it and removes the directory$/m, 'stderr', 240_000);
    expect(dataDir.startsWith(tmp)).toBe(true);
    expect(processesUsing(tmp).length).toBeGreaterThan(0); // the server is running
    cli.signal('SIGINT'); // to the CLI only: it stops the server itself
    const { code } = await cli.exited;
    expect(code, cli.stderr()).toBe(130);
    expect(expectOneLine(cli.stderr())).toBe('interrupted: demo stopped: the embedded PostgreSQL is stopped and its data directory removed');
    expect(await leftovers(tmp)).toEqual([]);
    expect(processesUsing(tmp)).toEqual([]);
  }, 300_000);
});
