// Reliability: application writers keep inserting and updating the same tables during a backfill; none of them fails.
import { beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { runBackfill } from '../../src/backfill/backfill-runner.js';
import { loadSampleCrm } from '../../src/sample/sample-crm.js';
import { useTestDatabase } from '../support/database.js';
import { addMissingTenantColumns, sampleManifest } from './helpers.js';

const WRITERS = 4;

describe('backfill with concurrent application writers', () => {
  const db = useTestDatabase();

  beforeAll(async () => {
    const c = db().client;
    await loadSampleCrm(c, { scale: 15, schema: 'live' });
    await addMissingTenantColumns(c, 'live');
    await c.query(`
      UPDATE live.deals SET company_id = NULL WHERE id % 2 = 0;
      UPDATE live.activities SET company_id = NULL;
      UPDATE live.emails SET company_id = NULL;`);
  }, 60_000);

  it('zero failed writer transactions; values the application wrote are never overwritten', async () => {
    const c = db().client;
    const { rows: bounds } = await c.query(
      `SELECT (SELECT max(id) FROM live.activities)::int AS activities, (SELECT max(id) FROM live.contacts)::int AS contacts,
              (SELECT max(id) FROM live.deals)::int AS deals`,
    );
    const max = bounds[0];
    const writers: pg.Client[] = [];
    for (let i = 0; i < WRITERS; i++) writers.push(await db().connect());
    let stop = false;
    let failures = 0;
    let commits = 0;
    const errors: string[] = [];
    /** Rows whose NULL tenant the application itself set, with the value it chose (on purpose not the derivable one). */
    const appWrites = new Map<number, number>();
    const pick = (n: number) => 1 + Math.floor(Math.random() * n);

    const loop = async (w: pg.Client, n: number) => {
      while (!stop) {
        try {
          switch ((n + commits) % 4) {
            case 0:
              await w.query(
                `INSERT INTO live.activities (company_id, contact_id, type, subject) SELECT company_id, id, 'call', 'live insert' FROM live.contacts WHERE id = $1`,
                [pick(max.contacts)],
              );
              break;
            case 1:
              await w.query(`UPDATE live.activities SET subject = subject || '.' WHERE id = $1`, [pick(max.activities)]);
              break;
            case 2: {
              const id = pick(max.activities);
              // The other company than the derivable one, so an overwrite by the backfill would show.
              const res = await w.query(
                `UPDATE live.activities a SET company_id = CASE WHEN d.company_id = 1 THEN 2 ELSE 1 END
                   FROM live.deals d WHERE a.id = $1 AND d.id = a.deal_id AND a.company_id IS NULL AND d.company_id IS NOT NULL
                 RETURNING a.company_id`,
                [id],
              );
              if (res.rows[0]) appWrites.set(id, res.rows[0].company_id);
              break;
            }
            default:
              await w.query('BEGIN');
              await w.query(`UPDATE live.deals SET title = title || '!' WHERE id = $1`, [pick(max.deals)]);
              await w.query(`UPDATE live.emails SET subject = subject || '!' WHERE id = $1`, [pick(max.deals)]);
              await w.query('COMMIT');
          }
          commits++;
        } catch (error) {
          failures++;
          errors.push((error as Error).message);
          await w.query('ROLLBACK').catch(() => {});
        }
      }
    };
    const running = writers.map((w, i) => loop(w, i));
    let result: Awaited<ReturnType<typeof runBackfill>>;
    try {
      result = await runBackfill({
        databaseUrl: db().url,
        manifest: await sampleManifest('live', 'live_state'),
        batchSize: 50,
        targetBatchMs: 0,
        sleepMs: 1,
      });
    } finally {
      stop = true;
      await Promise.all(running);
    }

    expect(errors).toEqual([]);
    expect(failures).toBe(0);
    expect(commits).toBeGreaterThan(100);
    expect(result.tables.find((t) => t.table === 'activities')!.filled).toBeGreaterThan(500);
    // What the application wrote stays; the backfill did not touch it.
    expect(appWrites.size).toBeGreaterThan(0);
    const ids = [...appWrites.keys()];
    const { rows } = await c.query(`SELECT id, company_id FROM live.activities WHERE id = ANY($1::int[])`, [ids]);
    for (const r of rows) expect(r.company_id).toBe(appWrites.get(r.id));
    // Every derivable NULL is filled; what is left is a reported conflict (its deal and contact disagree).
    const left = await c.query(
      `SELECT a.id FROM live.activities a JOIN live.deals d ON d.id = a.deal_id WHERE a.company_id IS NULL AND d.company_id IS NOT NULL ORDER BY 1`,
    );
    const conflicts = result.conflicts.filter((x) => x.table === 'activities').map((x) => x.key.id as number);
    const leftIds = left.rows.map((r) => r.id as number);
    for (const id of leftIds) expect(conflicts).toContain(id);
    // A reported conflict no longer NULL was set by the application (writers ran until the report was done).
    for (const id of conflicts.filter((c) => !leftIds.includes(c))) expect(appWrites.has(id)).toBe(true);
    expect(result.orphans.filter((x) => x.table === 'activities')).toEqual([]);
  }, 60_000);
});
