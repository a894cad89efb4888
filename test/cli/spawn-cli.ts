// Starts the built CLI and lets a test watch its output as it comes, signal it, and wait for its exit.
import { spawn, type ChildProcess } from 'node:child_process';
import { binPath, repoRoot } from '../support/cli.js';

export interface RunningCli {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves when `pattern` appears in the stream (rejects if the process exits first or after `timeoutMs`). */
  waitFor(pattern: RegExp, stream?: 'stdout' | 'stderr', timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Sends a signal: to the process, or with `group` to its whole process group, as a terminal's Ctrl-C does. */
  signal(signal: NodeJS.Signals, options?: { group?: boolean }): void;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface StartCliOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Its own process group (for `signal(…, { group: true })`). */
  group?: boolean;
}

/** `crm-tenancy ...args` with a clean environment (no DATABASE_URL / PG* leaking in), output collected as it comes. */
export function startCli(args: string[], options: StartCliOptions = {}): RunningCli {
  const base: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k === 'DATABASE_URL' || k.startsWith('PG') || k === 'FORCE_COLOR') continue;
    base[k] = v;
  }
  const child = spawn(process.execPath, [binPath, ...args], {
    cwd: options.cwd ?? repoRoot,
    env: { ...base, NO_COLOR: '1', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: Boolean(options.group),
  });
  const text = { stdout: '', stderr: '' };
  const listeners = new Set<() => void>();
  const changed = () => {
    for (const l of listeners) l();
  };
  child.stdout!.on('data', (d) => {
    text.stdout += d;
    changed();
  });
  child.stderr!.on('data', (d) => {
    text.stderr += d;
    changed();
  });
  let done = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      done = true;
      changed();
      resolve({ code, signal });
    });
  });
  return {
    child,
    stdout: () => text.stdout,
    stderr: () => text.stderr,
    waitFor(pattern, stream = 'stderr', timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => finish(new Error(`timed out waiting for ${pattern}; stderr: ${text.stderr}`)), timeoutMs);
        const check = () => {
          const m = pattern.exec(text[stream]);
          if (m) finish(undefined, m);
          else if (done) finish(new Error(`exited before ${pattern} appeared; stdout: ${text.stdout}; stderr: ${text.stderr}`));
        };
        function finish(error?: Error, match?: RegExpMatchArray) {
          clearTimeout(timer);
          listeners.delete(check);
          if (error) reject(error);
          else resolve(match!);
        }
        listeners.add(check);
        check();
      });
    },
    signal(signal, { group = false } = {}) {
      if (group) process.kill(-child.pid!, signal);
      else child.kill(signal);
    },
    exited,
  };
}
