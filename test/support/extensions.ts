// Which optional extensions the test server offers (pg_partman on PostgreSQL 15 here; none embedded).
import pg from 'pg';
import { adminUrl } from './database.js';

/** The default version of an extension the server can install, or null when it has none. */
export async function availableExtension(name: string): Promise<string | null> {
  const c = new pg.Client({ connectionString: adminUrl() });
  await c.connect();
  try {
    const { rows } = await c.query(`SELECT default_version FROM pg_available_extensions WHERE name = $1`, [name]);
    return rows[0]?.default_version ?? null;
  } finally {
    await c.end();
  }
}
