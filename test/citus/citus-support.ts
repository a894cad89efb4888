// The Citus cluster of the test/citus suites: CITUS_URL (a coordinator, e.g. ../shared/citus/cluster.sh start), else the suites skip.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { ident } from '../../src/db/quote.js';

export const CITUS_URL = process.env.CITUS_URL;

/** Why the suite is skipped, printed once. */
export function skipMessage(suite: string): string | undefined {
  if (CITUS_URL) return undefined;
  const message = `${suite}: skipped, CITUS_URL is not set (start a cluster with ../shared/citus/cluster.sh start and set CITUS_URL to the coordinator)`;
  console.warn(message);
  return message;
}

/**
 * A schema and roles of this run's own on the coordinator's database (the citus extension lives in one
 * database, so runs share it and never collide by name); dropped by `cleanup`.
 */
export async function citusScratch(): Promise<{ client: pg.Client; schema: string; role: (prefix: string) => Promise<string>; cleanup: () => Promise<void> }> {
  const client = new pg.Client({ connectionString: CITUS_URL });
  await client.connect();
  const tag = randomBytes(3).toString('hex');
  const schema = `cg_${tag}`;
  const roles: string[] = [];
  return {
    client,
    schema,
    role: async (prefix) => {
      const name = `${prefix}_${tag}`;
      // LOGIN: under SET ROLE the coordinator connects to the workers as that role.
      await client.query(`CREATE ROLE ${ident(name)} LOGIN`);
      roles.push(name);
      return name;
    },
    cleanup: async () => {
      await client.query(`DROP SCHEMA IF EXISTS ${ident(schema)} CASCADE`).catch(() => {});
      await client.query(`DROP SCHEMA IF EXISTS ${ident(`${schema}_state`)} CASCADE`).catch(() => {});
      for (const r of roles) {
        await client.query(`DROP OWNED BY ${ident(r)}`).catch(() => {});
        await client.query(`DROP ROLE IF EXISTS ${ident(r)}`).catch(() => {});
      }
      await client.end();
    },
  };
}
