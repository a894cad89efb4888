// Proofs by constraint and --deep, through the CLI: a cross-tenant row written with session_replication_role = replica.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ident } from '../../src/db/quote.js';
import { runCli } from '../support/cli.js';
import { useTestDatabase } from '../support/database.js';
import { fixture, secure, SETTING, type Fixture } from './check-helpers.js';

interface Report {
  findings: { check: string; table: string; object: string; count: number; samples: unknown[] }[];
  dataChecks: { check: string; status: string; proven: number; scanned: number }[];
  proofs: { check: string; table: string; object: string | null; status: string; proof?: string }[];
  summary: { error: number; warning: number; deep: boolean; scannedTables: number };
}

describe('audit --deep: scans what the catalog proves (CLI)', () => {
  const db = useTestDatabase();
  let f: Fixture;
  let dir: string;
  const manifestFile = () => path.join(dir, 'tenancy.yaml');
  const audit = (...args: string[]) => runCli(['audit', '--database-url', db().url, '--config', manifestFile(), ...args]);
  const report = async (...args: string[]): Promise<{ code: number | null; report: Report }> => {
    const r = await audit('--format', 'json', ...args);
    if (r.code === 2) throw new Error(r.stderr);
    return { code: r.code, report: JSON.parse(r.stdout) as Report };
  };

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'crmt-deep-'));
    // A finished rollout in miniature: NOT NULL tenant columns with validated FKs, RLS forced with the
    // tenant policy, and a validated composite FK (tenant_id, contact_id) → contacts (tenant_id, id).
    f = await fixture(db().client, db().createRole, { tables: ['contacts'], rolePrefix: 'deep' });
    const deals = f.q('deals');
    await db().client.query(`
      CREATE TABLE ${deals} (id integer NOT NULL, tenant_id integer NOT NULL REFERENCES ${f.q('tenants')} (id), contact_id integer,
        PRIMARY KEY (tenant_id, id), FOREIGN KEY (tenant_id, contact_id) REFERENCES ${f.q('contacts')} (tenant_id, id));
      GRANT SELECT, INSERT, UPDATE, DELETE ON ${deals} TO ${ident(f.app)};
      ${secure(deals, f.app).join(';\n')};
      CREATE UNIQUE INDEX contacts_body_key ON ${f.q('contacts')} (tenant_id, body);
      INSERT INTO ${f.q('tenants')} VALUES (1, 'one'), (2, 'two');
      INSERT INTO ${f.q('contacts')} VALUES (10, 1, 'c1'), (20, 2, 'c2');
      INSERT INTO ${deals} VALUES (1, 1, 10), (2, 2, 20);
    `);
    const manifest = {
      schema: f.schema,
      tenant: { table: 'tenants', key: 'id', column: 'tenant_id', setting: SETTING },
      roles: { app: [f.app] },
      tables: { contacts: { unique: [['body']] }, deals: null },
    };
    await writeFile(manifestFile(), JSON.stringify(manifest, null, 2));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('a finished rollout: the default audit passes, every data check proven by constraints, no table scanned', async () => {
    const { code, report: r } = await report();
    expect(code).toBe(0);
    expect(r.summary).toMatchObject({ error: 0, warning: 0, deep: false, scannedTables: 0 });
    expect(r.dataChecks).toEqual([
      { check: 'null-tenant', status: 'proven', proven: 2, scanned: 0 },
      { check: 'cross-tenant-reference', status: 'proven', proven: 1, scanned: 0 },
      { check: 'duplicate-within-tenant', status: 'proven', proven: 1, scanned: 0 },
    ]);
    expect(r.proofs).toContainEqual({
      check: 'cross-tenant-reference',
      table: 'deals',
      object: 'deals_tenant_id_contact_id_fkey',
      status: 'proven',
      proof: 'validated composite foreign key',
    });
    const table = await audit();
    expect(table.stdout).toContain('cross-tenant-reference: proven by constraints or triggers, not scanned (1: validated composite foreign key)');
    expect(table.stdout).toContain('run `crm-tenancy audit --deep` after a logical-replication catch-up, a restore, or any write with session_replication_role = replica');
  });

  it('a cross-tenant reference written with session_replication_role = replica: the default audit misses it, --deep finds it (exit 1); fixed, --deep is clean', async () => {
    // The logical-replication apply path: FK triggers do not fire, so the composite FK is never checked.
    const c = db().client;
    await c.query('BEGIN');
    await c.query('SET LOCAL session_replication_role = replica');
    await c.query(`UPDATE ${f.q('deals')} SET contact_id = 20 WHERE id = 1`); // tenant 1's deal → tenant 2's contact
    await c.query('COMMIT');
    try {
      const proven = await report();
      expect(proven.code).toBe(0); // the proof's assumption is broken, and the default audit cannot know
      expect(proven.report.findings.filter((x) => x.check === 'cross-tenant-reference')).toEqual([]);
      expect(proven.report.dataChecks.find((d) => d.check === 'cross-tenant-reference')?.status).toBe('proven');

      const deep = await report('--deep');
      expect(deep.code).toBe(1);
      expect(deep.report.summary.deep).toBe(true);
      expect(deep.report.findings.filter((x) => x.check === 'cross-tenant-reference').map((x) => [x.table, x.object, x.count, x.samples])).toEqual([
        [`${f.schema}.deals`, 'deals_tenant_id_contact_id_fkey', 1, [[1, 1]]],
      ]);
      expect(deep.report.dataChecks).toEqual([
        { check: 'null-tenant', status: 'scanned', proven: 0, scanned: 2 },
        { check: 'cross-tenant-reference', status: 'scanned', proven: 0, scanned: 1 },
        { check: 'duplicate-within-tenant', status: 'scanned', proven: 0, scanned: 1 },
      ]);
      const table = await audit('--deep', '--only', 'cross-tenant-reference');
      expect(table.code).toBe(1);
      expect(table.stdout).toContain('cross-tenant-reference: scanned (--deep) (1)');
    } finally {
      await c.query(`UPDATE ${f.q('deals')} SET contact_id = 10 WHERE id = 1`);
    }
    const fixed = await report('--deep');
    expect(fixed.code).toBe(0);
    expect(fixed.report.findings.filter((x) => x.check === 'cross-tenant-reference')).toEqual([]);
    expect(fixed.report.summary).toMatchObject({ error: 0, warning: 0, deep: true });
  });

  it('--deep also scans NOT NULL columns and keys a valid unique index enforces', async () => {
    const { report: r } = await report('--deep', '--only', 'null-tenant,duplicate-within-tenant,cross-tenant-reference');
    expect(r.proofs.every((p) => p.status === 'scanned')).toBe(true);
    expect(r.proofs.filter((p) => p.check === 'null-tenant').map((p) => p.table)).toEqual(['contacts', 'deals']);
    expect(r.proofs.filter((p) => p.check === 'duplicate-within-tenant').map((p) => `${p.table} ${p.object}`)).toEqual(['contacts tenant_id, body']);
    expect(r.summary.scannedTables).toBe(2);
  });
});
