// runAudit({ client }): the caller's connection, idle or inside its own transaction, left as it was.
import { beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { runAudit } from '../../src/audit/runner.js';
import type { Manifest } from '../../src/config/manifest.js';
import { useTestDatabase } from '../support/database.js';
import { fixture, type Fixture } from './check-helpers.js';

describe('runAudit with a caller’s client', () => {
  const db = useTestDatabase();
  let f: Fixture;
  let manifest: Manifest;
  let client: pg.Client;
  const settings = async () =>
    (
      await client.query<{ rs: string; ro: string; st: string }>(
        `SELECT current_setting('row_security') AS rs, current_setting('transaction_read_only') AS ro, current_setting('statement_timeout') AS st`,
      )
    ).rows[0];

  beforeAll(async () => {
    f = await fixture(db().client, db().createRole, { tables: ['notes'], rolePrefix: 'client' });
    // A nullable tenant column: NULL rows are something the audit can find in the caller's transaction.
    await db().client.query(`CREATE TABLE ${f.q('drafts')} (id integer PRIMARY KEY, tenant_id integer REFERENCES ${f.q('tenants')} (id));
                             INSERT INTO ${f.q('tenants')} VALUES (1, 'one')`);
    manifest = f.manifest({ tables: { notes: null, drafts: null } });
    client = await db().connect();
  });

  it('idle: the audit runs in its own read-only transaction on it and leaves it idle, open and unchanged', async () => {
    const before = await settings();
    const result = await runAudit({ client, manifest, only: ['null-tenant', 'rls-disabled'] });
    expect(result.findings.map((x) => `${x.check} ${x.table}`)).toEqual([`rls-disabled ${f.schema}.drafts`]);
    expect(client.getTransactionStatus()).toBe('I');
    expect(await settings()).toEqual(before);
  });

  it('inside the caller’s transaction: it sees the uncommitted rows, and the transaction goes on as it was (writable, settings back)', async () => {
    await client.query('BEGIN');
    try {
      await client.query(`INSERT INTO ${f.q('drafts')} VALUES (7, NULL)`);
      const before = await settings();
      const result = await runAudit({ client, manifest, only: ['null-tenant'] });
      expect(result.findings.map((x) => [x.check, x.table, x.count, x.samples])).toEqual([['null-tenant', `${f.schema}.drafts`, 1, [7]]]);
      expect(client.getTransactionStatus()).toBe('T');
      expect(await settings()).toEqual(before);
      // Still the caller's transaction, still writable: the row is there and more can be written.
      await client.query(`INSERT INTO ${f.q('drafts')} VALUES (8, 1)`);
      expect((await client.query(`SELECT count(*)::int AS n FROM ${f.q('drafts')}`)).rows[0].n).toBe(2);
    } finally {
      await client.query('ROLLBACK');
    }
    // Another connection never saw the rows: the audit did not commit anything.
    expect((await runAudit({ databaseUrl: db().url, manifest, only: ['null-tenant'] })).findings).toEqual([]);
  });

  it('an audit that fails inside the caller’s transaction: the error is thrown, and the transaction is usable again', async () => {
    // Another session holds notes: reading it waits, and the audit's 1 s statement_timeout ends the wait.
    const holder = await db().connect();
    await holder.query(`BEGIN; LOCK TABLE ${f.q('notes')} IN ACCESS EXCLUSIVE MODE`);
    await client.query('BEGIN');
    try {
      await client.query(`INSERT INTO ${f.q('drafts')} VALUES (9, NULL)`);
      const error = await runAudit({ client, manifest, only: ['null-tenant'], deep: true, statementTimeoutMs: 1000 }).then(
        () => undefined,
        (e: { message: string; problems?: string[] }) => e,
      );
      // The catalog read (pg_get_expr locks the table it reads) or the scan: either waits and times out.
      expect([error?.message, ...(error?.problems ?? [])].join('\n')).toMatch(/canceling statement due to statement timeout/);
      expect(client.getTransactionStatus()).toBe('T');
      expect((await client.query(`SELECT count(*)::int AS n FROM ${f.q('drafts')} WHERE id = 9`)).rows[0].n).toBe(1);
    } finally {
      await client.query('ROLLBACK');
      await holder.query('ROLLBACK');
    }
  });

  it('a client in a failed transaction is refused (usage), not rolled back behind the caller’s back', async () => {
    await client.query('BEGIN');
    await client.query('SELECT 1/0').catch(() => {});
    try {
      await expect(runAudit({ client, manifest })).rejects.toMatchObject({ code: 'usage', message: /failed transaction/ });
      expect(client.getTransactionStatus()).toBe('E');
    } finally {
      await client.query('ROLLBACK');
    }
  });
});
