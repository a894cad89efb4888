// Ctrl-C tears the work down with closeOpenConnections: once it starts, no connection of this process may
// run another statement — an error handler of the cancelled work (marking its run `failed`, say) must not
// get one in before the connection closes (it did: a run interrupted by Ctrl-C was sometimes left
// `failed` instead of `running`, so the rerun did not resume it).
import { describe, expect, it } from 'vitest';
import { closeOpenConnections, connect } from '../../src/db/connection.js';
import { useTestDatabase } from '../support/database.js';

describe('closeOpenConnections', () => {
  const db = useTestDatabase();

  it('refuses every statement from the moment it starts, on every open connection, while it cancels the running ones', async () => {
    await db().client.query('CREATE TABLE marks (what text)');
    const main = await connect({ databaseUrl: db().url });
    const worker = await connect({ databaseUrl: db().url });
    // The cancelled statement's handler writes on the other, idle connection at once, as withRun does.
    const handled = worker.query('SELECT pg_sleep(30)').then(
      () => 'finished',
      async (error: Error) => {
        const wrote = await main.query(`INSERT INTO marks VALUES ('failed')`).then(
          () => 'written',
          (e: Error) => `refused: ${e.message}`,
        );
        return `${error.message} / ${wrote}`;
      },
    );
    for (;;) {
      const { rows } = await db().client.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(30)' AND state = 'active'`);
      if (rows[0].n > 0) break;
    }
    await closeOpenConnections();
    const outcome = await handled;
    // The running statement ends cancelled (or, when the close wins the race, with the connection).
    expect(outcome).toMatch(/^(canceling statement due to user request|Connection terminated) \/ refused: the connection is closing/);
    const { rows } = await db().client.query('SELECT count(*)::int AS n FROM marks');
    expect(rows[0].n).toBe(0);
    // Neither session is left behind.
    const left = await db().client.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid IN ($1, $2)`, [
      (main as unknown as { processID: number }).processID,
      (worker as unknown as { processID: number }).processID,
    ]);
    expect(left.rows[0].n).toBe(0);
  });
});
