// The SaaS fixture holds exactly the defects it claims (sample/saas-data.sql's header), measured by
// plain SQL, at scale 1 and 3: the rollout tests can rely on these numbers.
import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseManifestText } from '../../src/config/manifest.js';
import { loadSampleSaas } from '../../src/sample/sample-saas.js';
import { runCli } from '../support/cli.js';
import { useTestDatabase } from '../support/database.js';

describe('the SaaS sample', () => {
  const db = useTestDatabase();

  it.each([1, 3])('scale %i: ~100 tables, and every planted defect is there, per block', async (scale) => {
    const schema = `saas_${scale}`;
    const loaded = await loadSampleSaas(db().client, { scale, schema });
    expect(loaded.tables).toBe(98);
    const q = async (sql: string) => {
      await db().client.query(`SET search_path = ${schema}`);
      const { rows } = await db().client.query(sql);
      return Number(Object.values(rows[0])[0]);
    };
    expect(await q(`SELECT count(*) FROM pg_tables WHERE schemaname = '${schema}'`)).toBe(98 + 4);
    expect(await q(`SELECT count(*) FROM organizations`)).toBe(3 * scale);
    // NULL tenants
    expect(await q(`SELECT count(*) FROM projects WHERE organization_id IS NULL`)).toBe(2 * scale);
    expect(await q(`SELECT count(*) FROM tasks WHERE organization_id IS NULL`)).toBe(5 * scale);
    expect(await q(`SELECT count(*) FROM tasks t JOIN projects p ON p.id = t.project_id WHERE t.organization_id IS NULL AND p.organization_id IS NULL`)).toBe(4 * scale);
    expect(await q(`SELECT count(*) FROM audit_logs WHERE organization_id IS NULL`)).toBe(1 * scale);
    // duplicates under the partial key (live rows only) and the distinct documents sharing a number
    expect(await q(`SELECT count(*) FROM (SELECT 1 FROM billing_codes WHERE deleted_at IS NULL GROUP BY organization_id, code HAVING count(*) > 1) d`)).toBe(scale);
    expect(await q(`SELECT count(*) FROM (SELECT 1 FROM billing_codes GROUP BY organization_id, code HAVING count(*) > 1) d`)).toBe(4 * scale);
    expect(await q(`SELECT count(*) FROM (SELECT 1 FROM invoices GROUP BY organization_id, number HAVING count(DISTINCT customer_id) > 1) d`)).toBe(scale);
    // cross-tenant references (FK) and through the polymorphic pair
    expect(await q(`SELECT count(*) FROM invoices i JOIN customers c ON c.id = i.customer_id WHERE c.organization_id <> i.organization_id`)).toBe(scale);
    expect(await q(`SELECT count(*) FROM tasks t JOIN projects p ON p.id = t.project_id WHERE p.organization_id <> t.organization_id`)).toBe(scale);
    expect(await q(`SELECT count(*) FROM payments p JOIN invoices i ON i.id = p.payable_id AND p.payable_type = 'Invoice' WHERE i.organization_id <> p.organization_id`)).toBe(scale);
    expect(await q(`SELECT count(*) FROM payments WHERE payable_type NOT IN ('Invoice', 'PaymentRequest')`)).toBe(scale);
    // unknown tenant, shared rows, the partitioned table without a primary key
    expect(await q(`SELECT count(*) FROM data_imports d WHERE NOT EXISTS (SELECT 1 FROM organizations o WHERE o.id = d.organization_id)`)).toBe(scale);
    expect(await q(`SELECT count(*) FROM roles WHERE organization_id IS NULL`)).toBe(4);
    expect(await q(`SELECT count(*) FROM notification_templates WHERE organization_id IS NULL`)).toBe(3);
    expect(await q(`SELECT count(*) FROM pg_constraint WHERE conrelid = '${schema}.events'::regclass AND contype = 'p'`)).toBe(0);
    expect(await q(`SELECT count(*) FROM events`)).toBe(18 * scale);
    // polymorphic-only tables hold every organization's rows
    expect(await q(`SELECT count(DISTINCT i.organization_id) FROM versions v JOIN invoices i ON i.id::text = v.item_id WHERE v.item_type = 'Invoice'`)).toBe(3 * scale);
    // the predefined roles are protected by the schema's own trigger
    await expect(db().client.query(`UPDATE roles SET organization_id = (SELECT id FROM organizations LIMIT 1), predefined = false WHERE name = 'viewer'`)).rejects.toThrow(/predefined role viewer cannot be changed/);
    await db().client.query('RESET search_path');
  });
});

describe('crm-tenancy sample --sample saas', () => {
  const db = useTestDatabase();

  it('loads the fixture and writes its manifest, which parses and names every table; --write-manifest needs saas (exit 2)', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'crmt-sample-saas-'));
    const file = path.join(dir, 'tenancy.yaml');
    const r = await runCli(['sample', '--sample', 'saas', '--write-manifest', file, '--database-url', db().url]);
    expect(r.code, r.stderr).toBe(0);
    const manifest = parseManifestText(await readFile(file, 'utf8'), file);
    const { rows } = await db().client.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public' AND tablename NOT LIKE 'events\\_p%' AND tablename <> 'events_default'`);
    // Every table is scoped or exempt (the tenant table is neither).
    expect(manifest.tables.length + manifest.exempt.length + 1).toBe(rows[0].n);
    const wrong = await runCli(['sample', '--write-manifest', file, '--database-url', db().url]);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/--write-manifest goes with --sample saas/);
  });
});
