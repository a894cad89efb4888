// Throwaway databases and roles for tests: each test file gets its own database on the run's server.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, inject } from 'vitest';
import { ident } from '../../src/db/quote.js';
import { loadSampleCrm, type LoadSampleOptions } from '../../src/sample/sample-crm.js';

export interface TestDatabase {
  name: string;
  /** Superuser URL of this database. */
  url: string;
  /** A superuser connection to this database (closed on drop). */
  client: pg.Client;
  /** Opens another connection (closed on drop). */
  connect(url?: string): Promise<pg.Client>;
  /** Creates a cluster-wide role with a unique name (dropped on drop); returns its name. */
  createRole(prefix: string, attributes?: string): Promise<string>;
  /** URL that logs in as `role` (created with LOGIN and the test password). */
  urlFor(role: string): string;
  drop(): Promise<void>;
}

export const adminUrl = (): string => inject('adminUrl');
export const serverLabel = (): string => inject('serverLabel');

export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${encodeURIComponent(database)}`;
  return parsed.toString();
}

const ROLE_PASSWORD = 'crmt-test';

export interface CreateTestDatabaseOptions {
  /** Load the sample CRM (scale 1 unless given). */
  sample?: boolean | LoadSampleOptions;
}

export async function createTestDatabase(options: CreateTestDatabaseOptions = {}): Promise<TestDatabase> {
  const name = `crmt_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl() });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${ident(name)} TEMPLATE template0`);
  } finally {
    await admin.end();
  }
  const url = withDatabase(adminUrl(), name);
  const clients: pg.Client[] = [];
  const roles: string[] = [];
  const open = async (u = url) => {
    const c = new pg.Client({ connectionString: u });
    c.on('error', () => {});
    await c.connect();
    clients.push(c);
    return c;
  };
  const client = await open();
  if (options.sample) await loadSampleCrm(client, options.sample === true ? {} : options.sample);
  return {
    name,
    url,
    client,
    connect: open,
    async createRole(prefix, attributes = '') {
      const role = `crmt_${prefix}_${randomBytes(3).toString('hex')}`;
      await client.query(`CREATE ROLE ${ident(role)} LOGIN PASSWORD '${ROLE_PASSWORD}' ${attributes}`);
      roles.push(role);
      return role;
    },
    urlFor(role) {
      const parsed = new URL(url);
      parsed.username = encodeURIComponent(role);
      parsed.password = ROLE_PASSWORD;
      return parsed.toString();
    },
    async drop() {
      await Promise.all(clients.splice(0).map((c) => c.end().catch(() => {})));
      const a = new pg.Client({ connectionString: adminUrl() });
      await a.connect();
      try {
        await a.query(`DROP DATABASE IF EXISTS ${ident(name)} WITH (FORCE)`);
        for (const role of roles) await a.query(`DROP ROLE IF EXISTS ${ident(role)}`);
      } finally {
        await a.end();
      }
    },
  };
}

/**
 * Gives the test file a fresh database (beforeAll) and drops it afterwards (afterAll).
 * Use the returned getter inside tests: `const db = useTestDatabase(); … db().client.query(…)`.
 */
export function useTestDatabase(options: CreateTestDatabaseOptions = {}): () => TestDatabase {
  let db: TestDatabase | undefined;
  beforeAll(async () => {
    db = await createTestDatabase(options);
  });
  afterAll(async () => {
    await db?.drop();
  });
  return () => {
    if (!db) throw new Error('useTestDatabase: the database is created in beforeAll');
    return db;
  };
}
