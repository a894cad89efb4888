// generate → migrate on the SaaS fixture: partial per-tenant keys, shared rows, polymorphic
// enforcement, leaner files (no needless DEFAULT, equivalent keys reused, composite split, short lines).
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { resolveLiveContext } from '../../src/config/live-context.js';
import { parseManifest, type Manifest } from '../../src/config/manifest.js';
import { generateMigrations, type GenerateResult } from '../../src/migrate/generate.js';
import { readMigrationDir } from '../../src/migrate/migration-file.js';
import { readPlanExtras } from '../../src/migrate/plan-extras.js';
import { planTenancy, stepId } from '../../src/migrate/plan.js';
import { loadSampleSaas } from '../../src/sample/sample-saas.js';
import { runCli } from '../support/cli.js';
import { useTestDatabase } from '../support/database.js';
import { squawk, useTempDirs } from './support.js';

const sid = (key: string) => `md5('${key}')::uuid`;
const ORG_A = sid('org-0-1');
const ORG_C = sid('org-0-3');

describe('generate → migrate on the SaaS fixture', () => {
  const db = useTestDatabase();
  const tempDir = useTempDirs();
  let raw: Record<string, unknown>;
  let manifest: Manifest;
  let dir: string;
  let config: string;
  let generated: GenerateResult;
  const q = async (sql: string) => (await db().client.query(sql)).rows;
  const migrate = () => runCli(['migrate', '--config', config, '--database-url', db().url, '--migrations-dir', dir]);

  beforeAll(async () => {
    await loadSampleSaas(db().client, {});
    // An equivalent key in the other column order: the composite phase must reuse it.
    await q(`CREATE UNIQUE INDEX customers_id_org ON customers (id, organization_id)`);
    const features: Record<string, unknown> = {};
    for (let n = 1; n <= 64; n++) features[`feature_${String(n).padStart(2, '0')}_records`] = {};
    raw = {
      schema: 'public',
      tenant: { table: 'organizations', key: 'id', column: 'organization_id', setting: 'app.org', composite_keys: true },
      roles: { app: ['saas_app'] },
      tables: {
        customers: { unique: [{ columns: ['email'], where: 'deleted_at IS NULL' }] },
        billing_codes: { unique: [{ columns: ['code'], where: 'deleted_at IS NULL' }] },
        invoices: {},
        payment_requests: {},
        payments: { polymorphic: [{ type: 'payable_type', id: 'payable_id', targets: { Invoice: 'invoices', PaymentRequest: 'payment_requests' } }] },
        roles: { shared_rows: true, unique: [['name']] },
        memberships: { unique: [['user_id']] },
        notification_templates: { shared_rows: true },
        events: {},
        ...features,
      },
    };
    manifest = parseManifest(raw);
    dir = await tempDir();
    config = path.join(dir, 'tenancy.json.yaml');
    await writeFile(config, JSON.stringify(raw));
    generated = await generateMigrations({ client: db().client, manifest, migrationsDir: dir, policiesDir: await tempDir() });
  }, 120_000);

  const ids = () => generated.steps.map(stepId);

  it('#14.6: no DEFAULT on a column already NOT NULL; equivalent unique keys are reused, the missing one is built', () => {
    // Every scoped table but the two with shared rows has organization_id NOT NULL already.
    expect(generated.steps.filter((s) => s.kind === 'set-default').map((s) => s.table).sort()).toEqual(['notification_templates', 'roles']);
    // customers (email) WHERE deleted_at IS NULL, roles (organization_id, name), memberships UNIQUE (organization_id, user_id) exist.
    expect(generated.steps.filter((s) => s.kind === 'unique').map((s) => s.table)).toEqual(['billing_codes']);
    // customers has UNIQUE (id, organization_id): no new (organization_id, id) key; feature_01_records has none.
    const parentKeys = generated.steps.filter((s) => s.kind === 'parent-key').map((s) => s.table);
    expect(parentKeys).not.toContain('customers');
    expect(parentKeys).toContain('feature_01_records');
    expect(ids()).toContain('composite-fk:invoices:customer_id');
  });

  it('#14.1: the partitioned events table is no longer skipped; it already has all it needs', () => {
    expect(generated.skipped).toEqual([]);
    expect(generated.steps.filter((s) => s.table === 'events')).toEqual([]);
  });

  it('#13.2: shared_rows tables get no NOT NULL step and no composite FK to them, but the tenant FK and index', () => {
    const of = (table: string) => generated.steps.filter((s) => s.table === table).map((s) => s.kind);
    expect(of('roles')).not.toContain('not-null');
    expect(of('notification_templates')).not.toContain('not-null');
    expect(of('billing_codes')).toEqual(expect.arrayContaining(['unique']));
    // memberships.role_id → roles stays a single-column FK (predefined roles have no tenant).
    expect(ids()).not.toContain('composite-fk:memberships:role_id');
    // roles already has an FK to organizations (not validated? it is: the fixture creates it inline) and an index on (organization_id, name).
    expect(of('roles')).toEqual(['set-default']);
  });

  it('#14.6: the composite phase is one file per referenced table; metadata spans lines; no line over 200 characters', async () => {
    const names = generated.files.map((f) => path.basename(f.file));
    expect(names.slice(0, 3)).toEqual(['0001_tenancy-expand.sql', '0002_tenancy-index.sql', '0003_tenancy-validate.sql']);
    const composite = names.filter((n) => n.includes('composite'));
    expect(composite.every((n, i) => new RegExp(`_tenancy-composite(-${i + 1})?\\.sql$`).test(n))).toBe(true);
    expect(composite.length).toBeGreaterThan(20);
    for (const f of generated.files) {
      const text = await readFile(f.file, 'utf8');
      const long = text.split('\n').filter((l) => l.length > 200);
      expect(long, f.file).toEqual([]);
      expect(text.split('\n').filter((l) => l.startsWith('-- crm-tenancy-meta: ')).length).toBeGreaterThan(3);
    }
    const parsed = await readMigrationDir(dir);
    expect(parsed.flatMap((f) => f.meta?.provides ?? []).sort()).toEqual(ids().sort());
    const fk = parsed.find((f) => f.meta?.provides.includes('composite-fk:invoices:customer_id'))!;
    expect(await readFile(fk.path, 'utf8')).toMatch(/^-- This file: the foreign keys to public\.customers\.$/m);
    expect(fk.meta?.provides.slice().sort()).toEqual(['composite-fk:invoices:customer_id', 'composite-fk:payment_requests:customer_id']);
  });

  it('squawk finds nothing in the files (partial keys, the trigger, the composite parts)', async () => {
    const lint = await squawk(generated.files.map((f) => f.file));
    expect(lint.out).toBe('');
    expect(lint.code).toBe(0);
  });

  it('#13.1/#13.3: migrate refuses dirty data, then builds the partial key and the polymorphic trigger', async () => {
    const validate = await readFile(path.join(dir, '0003_tenancy-validate.sql'), 'utf8');
    expect(validate).toMatch(/CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS "billing_codes_organization_id_code_partial_key"\n {2}ON "public"\."billing_codes" \("organization_id", "code"\)\n {2}WHERE \(deleted_at IS NULL\);/);
    expect(validate).not.toMatch(/ADD CONSTRAINT "billing_codes[^"]*" UNIQUE/);
    expect(validate).toContain('SECURITY INVOKER');
    expect(validate).toContain('SET search_path = pg_catalog, pg_temp');
    // Phases 1 and 2 run; the first dirty thing in phase 3 stops it.
    await migrate();
    // Clean up by SQL what dedupe / backfill would: the CONSULT duplicate (its line item re-pointed), the
    // soft-deleted SETUP twins (preflight counts them until it reads the partial key), the cross-tenant invoice.
    await q(`UPDATE invoice_line_items l SET billing_code_id = k.keep FROM (
               SELECT min(id::text)::uuid AS keep, organization_id, code FROM billing_codes WHERE deleted_at IS NULL GROUP BY 2, 3 HAVING count(*) > 1) k
             JOIN billing_codes b ON b.organization_id = k.organization_id AND b.code = k.code AND b.id <> k.keep
             WHERE l.billing_code_id = b.id`);
    await q(`DELETE FROM billing_codes b USING billing_codes o
              WHERE o.organization_id = b.organization_id AND o.code = b.code AND o.deleted_at IS NULL AND b.deleted_at IS NULL AND b.id::text > o.id::text`);
    await q(`DELETE FROM billing_codes WHERE deleted_at IS NOT NULL`);
    await q(`UPDATE invoices i SET customer_id = (SELECT id FROM customers c WHERE c.organization_id = i.organization_id LIMIT 1)
              WHERE EXISTS (SELECT FROM customers c WHERE c.id = i.customer_id AND c.organization_id <> i.organization_id)`);
    // The payments still point across tenants and at 'Refund': migrate refuses before changing anything.
    const dirty = await migrate();
    expect(dirty.code).toBe(1);
    expect(dirty.stderr + dirty.stdout).toMatch(/│ payments +│ whose payable_type\/payable_id points/);
    await q(`DELETE FROM payments p WHERE payable_type NOT IN ('Invoice', 'PaymentRequest')
               OR EXISTS (SELECT FROM invoices i WHERE i.id = p.payable_id AND i.organization_id <> p.organization_id)`);
    const clean = await migrate();
    expect(clean.code).toBe(0);

    // The partial key: a live duplicate is rejected, a soft-deleted twin is allowed.
    await q(`INSERT INTO billing_codes (id, organization_id, code, description) VALUES (gen_random_uuid(), ${ORG_A}, 'NEW', 'x')`);
    await expect(q(`INSERT INTO billing_codes (id, organization_id, code, description) VALUES (gen_random_uuid(), ${ORG_A}, 'NEW', 'y')`)).rejects.toThrow(/duplicate key/);
    await q(`INSERT INTO billing_codes (id, organization_id, code, description, deleted_at) VALUES (gen_random_uuid(), ${ORG_A}, 'NEW', 'z', now())`);
    await q(`INSERT INTO billing_codes (id, organization_id, code, description) VALUES (gen_random_uuid(), ${ORG_C}, 'NEW', 'other tenant')`);

    // The polymorphic trigger: another tenant's invoice and an unknown type are rejected, the own invoice accepted.
    const invoiceOfC = `(SELECT id FROM invoices WHERE organization_id = ${ORG_C} LIMIT 1)`;
    const invoiceOfA = `(SELECT id FROM invoices WHERE organization_id = ${ORG_A} LIMIT 1)`;
    const pay = (type: string, target: string) =>
      q(`INSERT INTO payments (id, organization_id, payable_type, payable_id, amount_cents) VALUES (gen_random_uuid(), ${ORG_A}, '${type}', ${target}, 100)`);
    await expect(pay('Invoice', invoiceOfC)).rejects.toMatchObject({ code: '23503', message: expect.stringContaining('public.payments (payable_type, payable_id)') });
    await expect(pay('Refund', invoiceOfA)).rejects.toMatchObject({ code: '23503', message: expect.stringMatching(/type 'Refund' names no target/) });
    await expect(pay('PaymentRequest', invoiceOfA)).rejects.toMatchObject({ code: '23503' });
    await pay('Invoice', invoiceOfA);
    // Changing the tenant of a valid payment re-checks it.
    await expect(q(`UPDATE payments SET organization_id = ${ORG_C} WHERE organization_id = ${ORG_A}`)).rejects.toMatchObject({ code: '23503' });

    // shared_rows: roles and notification_templates keep a nullable tenant column, with the FK validated.
    const cols = await q(`SELECT attrelid::regclass::text AS t, attnotnull FROM pg_attribute
                           WHERE attname = 'organization_id' AND attrelid IN ('roles'::regclass, 'notification_templates'::regclass) ORDER BY 1`);
    expect(cols).toEqual([
      { t: 'notification_templates', attnotnull: false },
      { t: 'roles', attnotnull: false },
    ]);
    const fks = await q(`SELECT count(*)::int AS n FROM pg_constraint WHERE conrelid = 'notification_templates'::regclass AND contype = 'f' AND convalidated`);
    expect(fks[0].n).toBe(1);

    // After migrate, nothing is left to generate (the trigger is seen through readPlanExtras).
    const live = await resolveLiveContext(db().client, manifest);
    expect(planTenancy(live, new Set(), await readPlanExtras(db().client, live)).steps.map(stepId)).toEqual([]);
    // Without the extras the triggers are not seen: their steps are planned again (idempotent).
    expect(planTenancy(live).steps.map(stepId)).toEqual(['polymorphic:payments:payable_type:payable_id', 'shared-ref:memberships:role_id']);

    // Down drops the trigger and its function.
    const down = await runCli(['migrate', 'down', '--config', config, '--database-url', db().url, '--migrations-dir', dir, '--count', '100', '--force']);
    expect(down.code, down.stderr).toBe(0);
    const trig = await q(`SELECT count(*)::int AS n FROM pg_trigger WHERE tgname = 'payments_payable_type_payable_id_tenant_trigger'`);
    const fn = await q(`SELECT count(*)::int AS n FROM pg_proc WHERE proname = 'payments_payable_type_payable_id_tenant_check'`);
    expect([trig[0].n, fn[0].n]).toEqual([0, 0]);
  }, 240_000);
});
