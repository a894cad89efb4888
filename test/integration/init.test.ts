import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { draftManifest, renderDraft } from '../../src/init/draft-manifest.js';
import { parseManifestText } from '../../src/config/manifest.js';
import { resolveLiveContext } from '../../src/config/live-context.js';
import { useTestDatabase } from '../support/database.js';
import { createHostileSchema, createOrgSchema, HOSTILE } from '../fixtures/schemas.js';

describe('init drafts a manifest from the live catalog', () => {
  const db = useTestDatabase({ sample: true });

  it('finds the CRM tenant and classifies all tables, with backfill paths', async () => {
    const draft = await draftManifest(db().client);
    expect(draft).toMatchObject({ tenantTable: 'companies', tenantKey: 'id', tenantColumn: 'company_id', tenantType: 'integer' });
    const kinds = Object.fromEntries(draft.tables.map((t) => [t.name, t.classification]));
    // The three tables without company_id reach companies through foreign keys.
    expect(kinds.performance_alerts).toMatchObject({ kind: 'scoped', backfill: ['user_id'] });
    expect(kinds.email_campaigns).toMatchObject({ kind: 'scoped' });
    expect((kinds.email_campaigns as { backfill: string[] }).backfill.sort()).toEqual(['created_by', 'template_id']);
    expect(kinds.document_signatures).toMatchObject({ kind: 'scoped', backfill: ['document_id'] });
    expect(kinds.roles).toMatchObject({ kind: 'exempt' });
    expect(kinds.teams).toMatchObject({ kind: 'exempt' });
    // sessions references users: scoped by the FK graph (the repository manifest exempts it with a reason).
    expect(kinds.sessions).toMatchObject({ kind: 'scoped' });
    expect(draft.tables.filter((t) => t.classification.kind === 'scoped')).toHaveLength(28);
  });

  it('renders commented YAML that needs reasons before it validates', async () => {
    const text = renderDraft(await draftManifest(db().client));
    expect(text).toContain('# has column company_id');
    expect(text).toContain('# reaches companies through user_id → users');
    expect(() => parseManifestText(text)).toThrow(/problem/);
    // Once the DBA writes the reasons, the draft is a valid manifest for this database.
    const filled = text.replaceAll('"TODO: reason"', 'global lookup').replace(/app: \[app_user\].*/, 'app: [crm_app]');
    const manifest = parseManifestText(filled);
    await expect(resolveLiveContext(db().client, manifest)).resolves.toMatchObject({ tenantType: 'integer' });
  });

  it('drafts organizations/org_id (uuid) on a schema it has never seen', async () => {
    await createOrgSchema(db().client, 'saas');
    const draft = await draftManifest(db().client, { schema: 'saas' });
    expect(draft).toMatchObject({ tenantTable: 'organizations', tenantColumn: 'org_id', tenantType: 'uuid', setting: 'app.current_org_id' });
    const kinds = Object.fromEntries(draft.tables.map((t) => [t.name, t.classification]));
    expect(kinds.comments).toMatchObject({ kind: 'scoped', backfill: ['task_id'] });
    expect(kinds.tasks).toMatchObject({ kind: 'scoped', backfill: ['project_id'] });
    expect(kinds.projects).toMatchObject({ kind: 'scoped', backfill: ['owner_id'] });
    expect(kinds.countries).toMatchObject({ kind: 'exempt' });
    expect(kinds.feature_flags).toMatchObject({ kind: 'exempt' });
  });

  it('round-trips hostile identifiers (quotes, dots, semicolons, unicode, 63 bytes)', async () => {
    await createHostileSchema(db().client);
    const draft = await draftManifest(db().client, { schema: HOSTILE.schema });
    expect(draft).toMatchObject({ tenantTable: HOSTILE.tenant, tenantColumn: HOSTILE.tenantColumn, tenantType: 'bigint' });
    const text = renderDraft(draft);
    const raw = parse(text);
    expect(Object.keys(raw.tables).sort()).toEqual([HOSTILE.child, HOSTILE.grandchild].sort());
    expect(raw.tables[HOSTILE.grandchild]).toEqual({ backfill: ['client_id'] });
    const manifest = parseManifestText(text.replaceAll('"TODO: reason"', 'lookup').replace(/app: \[app_user\].*/, 'app: [x]'));
    const live = await resolveLiveContext(db().client, manifest);
    expect(live.tenantTable.name).toBe(HOSTILE.tenant);
  });

  it('honours --tenant-table and --tenant-column', async () => {
    const draft = await draftManifest(db().client, { tenantTable: 'users', tenantColumn: 'owner_id' });
    expect(draft.tenantTable).toBe('users');
    expect(draft.tenantColumn).toBe('owner_id');
  });
});
