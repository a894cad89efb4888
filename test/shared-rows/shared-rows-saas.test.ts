// shared_rows on the SaaS fixture: the predefined roles and default templates (NULL tenant, one protected by a trigger) stay readable by every organization and writable by none.
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runAudit } from '../../src/audit/runner.js';
import { resolveLiveContext } from '../../src/config/live-context.js';
import type { Manifest } from '../../src/config/manifest.js';
import { applyPolicies } from '../../src/policies/apply.js';
import { writePolicyFiles } from '../../src/policies/policy-files.js';
import { loadSampleSaas } from '../../src/sample/sample-saas.js';
import { verifyIsolation } from '../../src/verify/verify.js';
import { useTestDatabase } from '../support/database.js';
import { writeManifest } from '../verify/fixture.js';

describe('shared_rows on the SaaS fixture', () => {
  const db = useTestDatabase();
  let manifest: Manifest;

  beforeAll(async () => {
    const c = db().client;
    await loadSampleSaas(c, { modules: 0 });
    const app = await db().createRole('saas_app');
    const dir = await mkdtemp(path.join(os.tmpdir(), 'crmt-shared-saas-'));
    manifest = await writeManifest(path.join(dir, 'tenancy.yaml'), {
      schema: 'public',
      tenant: { table: 'organizations', key: 'id', column: 'organization_id', setting: 'app.current_organization_id' },
      roles: { app: [app] },
      tables: { roles: { shared_rows: true }, notification_templates: { shared_rows: true }, api_keys: null },
    });
    const policiesDir = path.join(dir, 'policies');
    await writePolicyFiles({ live: await resolveLiveContext(c, manifest), dir: policiesDir });
    const applied = await applyPolicies({ client: c, manifest, policiesDir });
    expect(applied.preflight).toEqual([]);
    expect(applied.ok).toBe(true);
  });

  it('verify proves each organization reads the shared rows and cannot change, delete or create one', async () => {
    const result = await verifyIsolation({ client: db().client, manifest });
    const shared = result.probes.filter((p) => p.probe === 'shared-rows');
    expect(shared.map((p) => [p.table, p.status])).toEqual([
      ['roles', 'pass'],
      ['notification_templates', 'pass'],
    ]);
    const onShared = result.probes.filter((p) => ['roles', 'notification_templates'].includes(p.table));
    expect(onShared.filter((p) => p.status === 'fail' || p.status === 'error')).toEqual([]);
    expect(onShared.find((p) => p.table === 'roles' && p.probe === 'select-own')!.detail).toContain('4 shared one(s)');
  });

  it('the audit accepts the generated shared-rows policies and does not count the shared NULLs', async () => {
    const result = await runAudit({
      client: db().client,
      manifest,
      only: ['policy-not-tenant-scoped', 'permissive-policy-bypass', 'null-tenant', 'nullable-tenant-column'],
    });
    expect(result.findings.filter((f) => f.table === 'public.roles' || f.table === 'public.notification_templates')).toEqual([]);
  });
});
