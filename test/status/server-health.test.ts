// Server health signals on a real server (vacuum progress, requested checkpoints) and the pause loop of waitWhileUnhealthy.
import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { ident } from '../../src/db/quote.js';
import { memoryLogger } from '../../src/logger.js';
import {
  healthProblems,
  readServerHealth,
  waitWhileUnhealthy,
  type ServerHealth,
} from '../../src/db/server-health.js';
import { useTestDatabase } from '../support/database.js';

const healthy: ServerHealth = {
  standbys: 0,
  replicationLagSeconds: 0,
  vacuums: [],
  checkpointsRequested: 0,
  checkpointsRequestedSinceLastRead: 0,
  statsVisible: true,
};

async function poll<T>(read: () => Promise<T>, until: (value: T) => boolean, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (until(value) || Date.now() > end) return value;
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('readServerHealth on a real server', () => {
  const db = useTestDatabase();
  const table = { schema: 'public', table: 'big' };

  it('no standby: lag 0; no vacuum on the table; statistics visible to a superuser', async () => {
    const health = await readServerHealth(db().client, table);
    expect(health.standbys).toBe(0);
    expect(health.replicationLagSeconds).toBe(0);
    expect(health.vacuums).toEqual([]);
    expect(health.statsVisible).toBe(true);
    expect(health.checkpointsRequestedSinceLastRead).toBe(null); // first read of this connection
  });

  it('sees a VACUUM running on the table (a manual one, made slow: not an autovacuum, so it never pauses)', async () => {
    const c = db().client;
    await c.query(`CREATE TABLE big (id int PRIMARY KEY, pad text) WITH (autovacuum_enabled = false)`);
    await c.query(`INSERT INTO big SELECT g, repeat('x', 200) FROM generate_series(1, 60000) g`);
    await c.query(`DELETE FROM big WHERE id % 2 = 0`);
    const other = await db().connect();
    const pid = (await other.query(`SELECT pg_backend_pid() AS pid`)).rows[0].pid as number;
    // Cost-based delay in that session only: the VACUUM sleeps most of the time and stays visible.
    await other.query(`SET vacuum_cost_delay = '100ms'`);
    await other.query(`SET vacuum_cost_limit = 1`);
    const running = other.query(`VACUUM big`).catch((error: Error) => error);
    try {
      const health = await poll(() => readServerHealth(c, table), (h) => h.vacuums.length > 0);
      expect(health.vacuums).toHaveLength(1);
      expect(health.vacuums[0]).toMatchObject({ pid, auto: false, wraparound: false });
      expect(health.vacuums[0].phase).toEqual(expect.any(String));
      expect(healthProblems(health)).toEqual([]);
      // The same reading, had it been an autovacuum worker running that long, pauses.
      const auto = { ...health, vacuums: [{ ...health.vacuums[0], auto: true, seconds: 61 }] };
      expect(healthProblems(auto)).toEqual([expect.stringMatching(/^autovacuum on the table for 61 s > 60 s/)]);
      // Another table's vacuum is not this table's.
      const elsewhere = await readServerHealth(c, { schema: 'public', table: 'nothing_here' });
      expect(elsewhere.vacuums).toEqual([]);
    } finally {
      await c.query(`SELECT pg_cancel_backend($1)`, [pid]);
      await running;
    }
    const after = await poll(() => readServerHealth(c, table), (h) => h.vacuums.length === 0);
    expect(after.vacuums).toEqual([]);
  });

  it('counts a requested checkpoint (CHECKPOINT) since the previous read of the connection', async () => {
    const c: pg.Client = await db().connect();
    const first = await readServerHealth(c, table);
    expect(first.checkpointsRequestedSinceLastRead).toBe(null);
    await c.query('CHECKPOINT');
    // The checkpointer publishes its counters right after the checkpoint: poll briefly.
    let since = 0;
    const end = Date.now() + 10_000;
    const base = first.checkpointsRequested;
    while (Date.now() < end) {
      const h = await readServerHealth(c, table);
      since = h.checkpointsRequested - base;
      if (since >= 1) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(since).toBeGreaterThanOrEqual(1);
    const planted = { ...first, checkpointsRequestedSinceLastRead: since };
    expect(healthProblems(planted, { maxRequestedCheckpoints: 0 })).toEqual([expect.stringMatching(/checkpoint\(s\) requested since the last check/)]);
    // Not watched by default: other sessions' CHECKPOINT and DROP DATABASE request them too.
    expect(healthProblems(planted)).toEqual([]);
    // Without a new checkpoint, two reads in a row show no growth (retried: the server is shared).
    let quiet: number | null = null;
    for (let i = 0; i < 20 && quiet !== 0; i++) {
      await readServerHealth(c, table);
      quiet = (await readServerHealth(c, table)).checkpointsRequestedSinceLastRead;
    }
    expect(quiet).toBe(0);
  });

  it('statsVisible: false for a plain role, true once it holds pg_read_all_stats', async () => {
    const role = await db().createRole('health');
    const plain = await db().connect(db().urlFor(role));
    expect((await readServerHealth(plain, table)).statsVisible).toBe(false);
    await db().client.query(`GRANT pg_read_all_stats TO ${ident(role)}`);
    expect((await readServerHealth(plain, table)).statsVisible).toBe(true);
    await db().client.query(`REVOKE pg_read_all_stats FROM ${ident(role)}`);
  });
});

describe('waitWhileUnhealthy: the pause loop (signals injected: this is the policy, not SQL)', () => {
  const table = { schema: 'public', table: 'deals' };
  const fakeClient = { query: async () => ({ rows: [] }) } as unknown as pg.Client;

  function scripted(readings: Partial<ServerHealth>[]) {
    let i = 0;
    const read = async () => ({ ...healthy, ...readings[Math.min(i++, readings.length - 1)] });
    return { read, reads: () => i };
  }

  it('returns at once, silently, while healthy', async () => {
    const logger = memoryLogger();
    const s = scripted([{}]);
    const slept: number[] = [];
    const result = await waitWhileUnhealthy(fakeClient, table, {}, logger, undefined, {
      read: s.read,
      sleep: async (ms) => void slept.push(ms),
    });
    expect(result).toEqual({ pauses: 0, pausedMs: 0, reasons: [] });
    expect(slept).toEqual([]);
    expect(logger.lines).toEqual([]);
  });

  it('pauses while any threshold is exceeded, logs each pause with its reason, then resumes', async () => {
    const logger = memoryLogger();
    let clock = 0;
    const s = scripted([
      { standbys: 1, replicationLagSeconds: 30 },
      { standbys: 1, replicationLagSeconds: 12, vacuums: [{ pid: 42, auto: true, wraparound: true, phase: 'scanning heap', seconds: 3 }] },
      { checkpointsRequestedSinceLastRead: 2 },
      { standbys: 1, replicationLagSeconds: 9 },
    ]);
    const slept: number[] = [];
    const result = await waitWhileUnhealthy(fakeClient, table, { pauseMs: 5_000, maxRequestedCheckpoints: 0 }, logger, undefined, {
      read: s.read,
      sleep: async (ms) => {
        slept.push(ms);
        clock += ms;
      },
      now: () => clock,
    });
    expect(s.reads()).toBe(4);
    expect(slept).toEqual([5_000, 5_000, 5_000]);
    expect(result.pauses).toBe(3);
    expect(result.pausedMs).toBe(15_000);
    expect(result.reasons).toEqual([
      ['replication lag 30.0 s > 10 s'],
      ['replication lag 12.0 s > 10 s', 'autovacuum to prevent wraparound on the table (pid 42, scanning heap)'],
      ['2 checkpoint(s) requested since the last check (WAL is outrunning max_wal_size)'],
    ]);
    expect(logger.lines).toEqual([
      { level: 'warn', message: 'public.deals: pausing 5.0 s: replication lag 30.0 s > 10 s' },
      { level: 'warn', message: expect.stringMatching(/^public\.deals: pausing 5\.0 s: replication lag 12\.0 s > 10 s; autovacuum to prevent wraparound/) },
      { level: 'warn', message: expect.stringMatching(/^public\.deals: pausing 5\.0 s: 2 checkpoint\(s\) requested/) },
      { level: 'info', message: 'public.deals: server healthy again, resuming after 15.0 s paused' },
    ]);
  });

  it('thresholds are options: a lag of 30 s passes under maxReplicationLagSeconds 60; a short autovacuum passes', async () => {
    const s = scripted([
      { standbys: 1, replicationLagSeconds: 30, vacuums: [{ pid: 7, auto: true, wraparound: false, phase: 'vacuuming indexes', seconds: 20 }] },
    ]);
    const result = await waitWhileUnhealthy(fakeClient, table, { maxReplicationLagSeconds: 60 }, memoryLogger(), undefined, { read: s.read });
    expect(result.pauses).toBe(0);
    expect(healthProblems({ ...healthy, vacuums: [{ pid: 7, auto: true, wraparound: false, phase: 'x', seconds: 20 }] }, { maxAutovacuumSeconds: 10 })).toHaveLength(1);
  });

  it('stops pausing when aborted (Ctrl-C), with the signal reason', async () => {
    const controller = new AbortController();
    const s = scripted([{ standbys: 1, replicationLagSeconds: 99 }]);
    const waiting = waitWhileUnhealthy(fakeClient, table, { pauseMs: 60_000 }, memoryLogger(), controller.signal, { read: s.read });
    setTimeout(() => controller.abort(new Error('interrupted')), 20);
    await expect(waiting).rejects.toThrow('interrupted');
  });

  it('gives up after maxWaitMs of pausing, naming what stayed unhealthy', async () => {
    let clock = 0;
    const s = scripted([{ standbys: 1, replicationLagSeconds: 99 }]);
    await expect(
      waitWhileUnhealthy(fakeClient, table, { pauseMs: 1_000, maxWaitMs: 3_000 }, memoryLogger(), undefined, {
        read: s.read,
        sleep: async (ms) => void (clock += ms),
        now: () => clock,
      }),
    ).rejects.toThrow(/stayed unhealthy for 3 s: replication lag 99\.0 s > 10 s/);
    expect(s.reads()).toBe(4);
  });

  it('warns once when the role cannot see other sessions’ statistics', async () => {
    const logger = memoryLogger();
    const s = scripted([{ statsVisible: false }]);
    const client = { query: async () => ({ rows: [] }) } as unknown as pg.Client;
    await waitWhileUnhealthy(client, table, {}, logger, undefined, { read: s.read });
    await waitWhileUnhealthy(client, table, {}, logger, undefined, { read: s.read });
    expect(logger.lines.filter((l) => /pg_read_all_stats/.test(l.message))).toHaveLength(1);
  });
});
