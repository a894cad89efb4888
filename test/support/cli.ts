// Runs the built CLI (bin/crm-tenancy.js → dist/) as a subprocess, the way users run it.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const binPath = path.join(repoRoot, 'bin', 'crm-tenancy.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunCliOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  /** Leave a password inside --database-url (by default it moves to PGPASSWORD). */
  keepPassword?: boolean;
}

/**
 * A password inside `--database-url` moves to PGPASSWORD, as the README tells users to do (the CLI
 * warns about one on the command line): the embedded server's URLs carry a random password, the
 * machine's server (trust) none, and the tests must read the same on both.
 */
function passwordToEnv(args: string[]): { args: string[]; env: NodeJS.ProcessEnv } {
  const i = args.indexOf('--database-url');
  if (i < 0 || i + 1 >= args.length) return { args, env: {} };
  let url: URL;
  try {
    url = new URL(args[i + 1]);
  } catch {
    return { args, env: {} };
  }
  if (!url.password) return { args, env: {} };
  const password = decodeURIComponent(url.password);
  url.password = '';
  return { args: [...args.slice(0, i + 1), url.toString(), ...args.slice(i + 2)], env: { PGPASSWORD: password } };
}

/** Runs `crm-tenancy ...args` with a clean environment (no DATABASE_URL / PG* leaking in). */
export function runCli(rawArgs: string[], options: RunCliOptions = {}): Promise<CliResult> {
  const base: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k === 'DATABASE_URL' || k.startsWith('PG') || k === 'FORCE_COLOR') continue;
    base[k] = v;
  }
  const { args, env: moved } = options.keepPassword ? { args: rawArgs, env: {} } : passwordToEnv(rawArgs);
  Object.assign(base, moved);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [binPath, ...args], {
      cwd: options.cwd ?? repoRoot,
      env: { ...base, NO_COLOR: '1', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
