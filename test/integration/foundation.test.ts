import { describe, expect, it } from 'vitest';
import { ensureStateSchema, listStateMigrations } from '../../src/state/state-schema.js';
import { finishRun, getRun, startRun } from '../../src/state/runs.js';
import { withLockRetry, withTransaction, backoffDelay } from '../../src/db/transaction.js';
import { parseManifest } from '../../src/config/manifest.js';
import { liveProblems, resolveLiveContext } from '../../src/config/live-context.js';
import { readCatalog, findRelation } from '../../src/db/catalog.js';
import { memoryLogger } from '../../src/logger.js';
import { useTestDatabase } from '../support/database.js';

const manifestFor = (tables: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  parseManifest({
    tenant: { table: 'companies', key: 'id', column: 'company_id', setting: 'app.current_company_id' },
    roles: { app: ['crm_app'] },
    tables,
    ...extra,
  });

describe('the bookkeeping schema', () => {
  const db = useTestDatabase();

  it('is created by its own migrations, once, under a configurable name', async () => {
    const schema = 'crm tenancy "state"';
    const applied = await ensureStateSchema(db().client, schema);
    expect(applied).toEqual((await listStateMigrations()).map((m) => m.id));
    expect(await ensureStateSchema(db().client, schema)).toEqual([]);
    // Concurrent first runs do not race (advisory lock).
    const other = 'crm_tenancy_2';
    const c2 = await db().connect();
    const results = await Promise.all([ensureStateSchema(db().client, other), ensureStateSchema(c2, other)]);
    expect(results.flat().sort()).toEqual(applied.sort());
  });

  it('concurrent first runs on two connections both succeed, 20 times over (no CREATE SCHEMA collision)', async () => {
    // A session that looked the schema up while another was creating it can keep a stale catalog
    // cache entry past the advisory lock; before the retry this failed about one run in three.
    const expected = (await listStateMigrations()).map((m) => m.id).sort();
    const c2 = await db().connect();
    for (let i = 0; i < 20; i++) {
      const schema = `crm_tenancy_race_${i}`;
      const results = await Promise.all([ensureStateSchema(db().client, schema), ensureStateSchema(c2, schema)]);
      expect(results.flat().sort()).toEqual(expected);
    }
  });

  it('records runs', async () => {
    const schema = 'crm_tenancy';
    await ensureStateSchema(db().client, schema);
    const id = await startRun(db().client, schema, 'backfill', { table: 'deals' });
    expect(id).toMatch(/^backfill-\d{8}T\d{6}-[0-9a-f]{4}$/);
    expect(await getRun(db().client, schema, id)).toMatchObject({ status: 'running', args: { table: 'deals' } });
    await finishRun(db().client, schema, id, 'done', { filled: 3 });
    expect(await getRun(db().client, schema, id)).toMatchObject({ status: 'done', summary: { filled: 3 } });
  });
});

describe('lock_timeout retry', () => {
  const db = useTestDatabase();

  it('backs off exponentially with jitter, capped', () => {
    expect(backoffDelay(1, { random: () => 0 })).toBe(100);
    expect(backoffDelay(1, { random: () => 1 })).toBe(200);
    expect(backoffDelay(4, { random: () => 1 })).toBe(1600);
    expect(backoffDelay(30, { random: () => 1, maxDelayMs: 5000 })).toBe(5000);
  });

  it('retries a statement blocked by a lock until the lock is released, logging each retry', async () => {
    await db().client.query('CREATE TABLE t (id int)');
    const holder = await db().connect();
    await holder.query('BEGIN; LOCK TABLE t IN ACCESS SHARE MODE');
    const release = setTimeout(() => void holder.query('COMMIT'), 400);
    const logger = memoryLogger();
    const attempts = await withLockRetry(
      async (attempt) => {
        await withTransaction(db().client, (tx) => tx.query('ALTER TABLE t ADD COLUMN c int'), { lockTimeoutMs: 50 });
        return attempt;
      },
      { logger, baseDelayMs: 50, label: 'add column' },
    );
    clearTimeout(release);
    expect(attempts).toBeGreaterThan(1);
    expect(logger.lines.filter((l) => l.level === 'warn')).toHaveLength(attempts - 1);
    expect(logger.lines[0].message).toMatch(/^add column: lock_timeout \(attempt 1\/8\), retrying in \d+ ms$/);
  });

  it('gives up after the bounded number of attempts with exit code 1, changing nothing', async () => {
    await db().client.query('CREATE TABLE u (id int)');
    const holder = await db().connect();
    await holder.query('BEGIN; LOCK TABLE u IN ACCESS SHARE MODE');
    await expect(
      withLockRetry(() => withTransaction(db().client, (tx) => tx.query('ALTER TABLE u ADD COLUMN c int'), { lockTimeoutMs: 20 }), {
        attempts: 3,
        baseDelayMs: 5,
      }),
    ).rejects.toMatchObject({ code: 'lock-timeout', exitCode: 1 });
    await holder.query('COMMIT');
    const { rows } = await db().client.query(`SELECT count(*)::int AS n FROM pg_attribute WHERE attrelid = 'u'::regclass AND attname = 'c'`);
    expect(rows[0].n).toBe(0);
  });
});

describe('the manifest against the live database', () => {
  const db = useTestDatabase({ sample: true });

  it('accepts the sample CRM and infers the tenant type', async () => {
    const live = await resolveLiveContext(db().client, manifestFor({ deals: { backfill: ['contact_id'] } }));
    expect(live.tenantType).toBe('integer');
  });

  it('lists every mismatch: tenant table/key, non-FK backfill columns, unknown unique columns', async () => {
    const catalog = await readCatalog(db().client, ['public']);
    expect(findRelation(catalog, 'public', 'deals')?.primaryKey).toEqual(['id']);
    const problems = liveProblems(
      manifestFor({ deals: { backfill: ['title', 'nope'], unique: [['ghost']] }, missing_table: {} }, { state_schema: 'public' }),
      catalog,
    );
    expect(problems).toEqual([
      'state_schema: must differ from schema (public); the toolkit keeps its own state apart',
      'tables.deals.backfill[0]: public.deals.title is not a foreign key',
      'tables.deals.backfill[1]: column nope does not exist in public.deals',
      'tables.deals.unique[0]: column ghost does not exist in public.deals',
    ]);
    const noTenant = liveProblems(
      parseManifest({
        tenant: { table: 'orgs', key: 'id', column: 'org_id', setting: 'app.org' },
        roles: { app: ['a'] },
        tables: { deals: {} },
      }),
      catalog,
    );
    expect(noTenant).toEqual(['tenant.table: table public.orgs does not exist']);
    const notUnique = liveProblems(
      parseManifest({ tenant: { table: 'deals', key: 'title', column: 'x', setting: 'app.x' }, roles: { app: ['a'] }, tables: { contacts: {} } }),
      catalog,
    );
    expect(notUnique[0]).toMatch(/neither the primary key nor UNIQUE/);
  });

  it('rejects a schema that does not exist with exit code 2', async () => {
    await expect(resolveLiveContext(db().client, manifestFor({ deals: {} }, { schema: 'nope' }))).rejects.toMatchObject({
      code: 'manifest-live',
      exitCode: 2,
    });
  });
});
