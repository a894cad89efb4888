// A benchmark's own database: created beside the server's others, dropped by the benchmark when done.
import pg from 'pg';
import { ident } from '../../src/db/quote.js';

export interface ScratchDatabase {
  /** Connected to the server's maintenance database (to drop the scratch one at the end). */
  admin: pg.Client;
  /** The scratch database's URL. */
  url: string;
  /** Connected to the scratch database. */
  db: pg.Client;
}

/** CREATE DATABASE `name` on the server of `serverUrl`, and a connection to it. */
export async function createScratchDatabase(serverUrl: string, name: string): Promise<ScratchDatabase> {
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${ident(name)}`);
  const parsed = new URL(serverUrl);
  parsed.pathname = `/${name}`;
  const url = parsed.toString();
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  return { admin, url, db };
}
