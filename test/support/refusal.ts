// Runs one statement in a transaction that is always rolled back and says whether the database refused
// it with a foreign-key violation (the constraint triggers' and foreign keys' SQLSTATE 23503).
import type pg from 'pg';

/** `sql` run and rolled back: null when accepted, else the 23503 message (any other error is thrown). */
export async function refusal(client: pg.ClientBase, sql: string): Promise<string | null> {
  await client.query('BEGIN');
  try {
    await client.query(sql);
    return null;
  } catch (e) {
    if ((e as { code?: string }).code !== '23503') throw e;
    return (e as Error).message;
  } finally {
    await client.query('ROLLBACK');
  }
}
