// The Citus suite's cluster: CITUS_URL (a coordinator superuser URL), else every test here is skipped, saying why.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { ident } from '../../src/db/quote.js';

/** The coordinator URL (`/work/shared/citus/cluster.sh start` prints it; .ci/run sets it). */
export const CITUS_URL = process.env.CITUS_URL;

export const SKIP_MESSAGE = 'CITUS_URL is not set: the Citus tests are skipped (start a cluster with ../shared/citus/cluster.sh start, then CITUS_URL=… npx vitest run test/citus)';

/** `describe`, or, without CITUS_URL, one skipped test whose name says how to run them. */
export function describeCitus(name: string, body: () => void): void {
  if (CITUS_URL) describe(name, body);
  else {
    console.warn(`${name}: ${SKIP_MESSAGE}`);
    describe(name, () => it.skip(SKIP_MESSAGE, () => {}));
  }
}

export interface CitusSchema {
  /** The schema this test file owns (dropped with everything in it afterwards). */
  schema: string;
  /** A superuser connection to the coordinator. */
  client: pg.Client;
  /** Creates a role with LOGIN (Citus connects to the workers as it) and a unique name; dropped afterwards. */
  createRole(prefix: string): Promise<string>;
  /** The coordinator URL logging in as `role`. */
  urlFor(role: string): string;
}

const PASSWORD = 'crmt-citus';

/**
 * A fresh schema on the cluster for one test file: each file gets its own (the coordinator's
 * database already has the citus extension on every node; a new database would not).
 */
export function useCitusSchema(prefix: string): () => CitusSchema {
  let state: CitusSchema | undefined;
  const roles: string[] = [];
  beforeAll(async () => {
    const client = new pg.Client({ connectionString: CITUS_URL });
    client.on('error', () => {});
    await client.connect();
    const schema = `crmt_${prefix}_${randomBytes(3).toString('hex')}`;
    await client.query(`CREATE SCHEMA ${ident(schema)}`);
    state = {
      schema,
      client,
      async createRole(p) {
        const role = `crmt_${p}_${randomBytes(3).toString('hex')}`;
        await client.query(`CREATE ROLE ${ident(role)} LOGIN PASSWORD '${PASSWORD}'`);
        roles.push(role);
        return role;
      },
      urlFor(role) {
        const url = new URL(CITUS_URL!);
        url.username = encodeURIComponent(role);
        url.password = PASSWORD;
        return url.toString();
      },
    };
  });
  afterAll(async () => {
    if (!state) return;
    const { client, schema } = state;
    try {
      await client.query(`DROP SCHEMA IF EXISTS ${ident(schema)} CASCADE`);
      for (const role of roles) {
        await client.query(`DROP OWNED BY ${ident(role)}`).catch(() => {});
        await client.query(`DROP ROLE IF EXISTS ${ident(role)}`);
      }
    } finally {
      await client.end();
    }
  });
  return () => {
    if (!state) throw new Error('useCitusSchema: the schema is created in beforeAll');
    return state;
  };
}
