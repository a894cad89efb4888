// init's proposals, each two-sided on a small schema: backfill sources ranked by hops (composite FKs
// included), none where the tenant column is NOT NULL, shared_rows, unique/singleton from indexes,
// composite_keys with its FK count, polymorphic TODOs with targets guessed by Rails convention.
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { draftManifest, renderDraft, type ScopedProposal } from '../../src/init/draft-manifest.js';
import { railsTableName } from '../../src/init/table-facts.js';
import { parseManifestText } from '../../src/config/manifest.js';
import { useTestDatabase } from '../support/database.js';

describe('init proposals', () => {
  const db = useTestDatabase();

  async function draft() {
    const d = await draftManifest(db().client, { schema: 'ip' });
    const scoped = (name: string) => d.tables.find((t) => t.name === name)!.classification as ScopedProposal;
    return { d, scoped, yaml: parse(renderDraft(d)), text: renderDraft(d) };
  }

  it('sets up a schema', async () => {
    await db().client.query(`
      CREATE SCHEMA ip; SET search_path = ip;
      CREATE TABLE orgs (id int PRIMARY KEY);
      INSERT INTO orgs VALUES (1), (2);
      CREATE TABLE memberships (id int PRIMARY KEY, org_id int NOT NULL REFERENCES orgs, UNIQUE (id, org_id));
      INSERT INTO memberships VALUES (10, 1), (20, 2);
      CREATE TABLE projects (id int PRIMARY KEY, org_id int REFERENCES orgs, owner_id int REFERENCES memberships);
      INSERT INTO projects VALUES (1, NULL, 10);
      CREATE TABLE tasks (id int PRIMARY KEY, project_id int REFERENCES projects, membership_id int, org_id int REFERENCES orgs,
                          FOREIGN KEY (membership_id, org_id) REFERENCES memberships (id, org_id));
      INSERT INTO tasks VALUES (1, 1, 10, NULL);
      CREATE TABLE notes (id int PRIMARY KEY, task_id int REFERENCES tasks, project_id int REFERENCES projects);
      CREATE TABLE replies (id int PRIMARY KEY, a_note_id int REFERENCES notes, z_task_id int REFERENCES tasks);
      CREATE TABLE templates (id int PRIMARY KEY, org_id int REFERENCES orgs, key text NOT NULL);
      INSERT INTO templates VALUES (1, NULL, 'welcome'), (2, 1, 'custom');
      CREATE UNIQUE INDEX templates_org_key ON templates (org_id, key);
      CREATE TABLE codes (id int PRIMARY KEY, org_id int NOT NULL REFERENCES orgs, code text, deleted_at timestamptz);
      CREATE UNIQUE INDEX codes_live ON codes (org_id, code) WHERE deleted_at IS NULL;
      CREATE TABLE settings (id int PRIMARY KEY, org_id int NOT NULL REFERENCES orgs UNIQUE);
      CREATE TABLE payments (id int PRIMARY KEY, org_id int NOT NULL REFERENCES orgs, payable_type text, payable_id text);
      CREATE TABLE invoices (id int PRIMARY KEY, org_id int NOT NULL REFERENCES orgs);
      CREATE TABLE payment_requests (id int PRIMARY KEY, org_id int NOT NULL REFERENCES orgs);
      INSERT INTO payments VALUES (1, 1, 'Invoice', '1'), (2, 1, 'PaymentRequest', '1'), (3, 1, 'Refund', '1');
      RESET search_path;`);
  });

  it('ranks backfill sources by hops and takes a (membership_id, org_id) FK as a path; without it, no such source', async () => {
    const { scoped, yaml } = await draft();
    // notes: task_id → tasks (2 hops: tasks carries org_id) before … project_id → projects (also 2): NOT NULL/name order.
    expect(scoped('notes').sources.map((s) => [s.column, s.hops])).toEqual([
      ['project_id', 2],
      ['task_id', 2],
    ]);
    // replies: z_task_id (2 hops) before a_note_id (3 hops: notes has no org_id), whatever the names say.
    expect(scoped('replies').sources.map((s) => [s.column, s.hops])).toEqual([
      ['z_task_id', 2],
      ['a_note_id', 3],
    ]);
    expect(scoped('tasks').sources.map((s) => [s.column, s.hops, s.composite])).toEqual([
      ['membership_id', 2, true],
      ['project_id', 2, false],
    ]);
    expect(yaml.tables.tasks.backfill).toEqual(['membership_id', 'project_id']);
    await db().client.query(`ALTER TABLE ip.tasks DROP CONSTRAINT tasks_membership_id_org_id_fkey`);
    expect((await draft()).scoped('tasks').backfill).toEqual(['project_id']);
  });

  it('writes no backfill list where the tenant column is NOT NULL, one where it is nullable', async () => {
    expect((await draft()).scoped('projects').backfill).toEqual(['owner_id']);
    await db().client.query(`UPDATE ip.projects SET org_id = 1; ALTER TABLE ip.projects ALTER org_id SET NOT NULL`);
    const { scoped, yaml, text } = await draft();
    expect(scoped('projects')).toMatchObject({ backfill: [], tenantNotNull: true });
    expect(yaml.tables.projects).toEqual({});
    expect(text).toContain('# has column org_id, NOT NULL already (nothing to backfill)');
  });

  it('proposes shared_rows only where the schema or data says so (CHECK, references from several tenants, overrides); else an orphan TODO', async () => {
    const q = (text: string) => db().client.query(text);
    // templates: one NULL row ('welcome'), one tenant row ('custom'): nothing says the NULL row is shared.
    const orphan = await draft();
    expect(orphan.scoped('templates')).toMatchObject({ sharedRows: false, orphans: true, nullRows: 1, backfill: [], sharedEvidence: [] });
    expect(orphan.yaml.tables.templates.shared_rows).toBeUndefined();
    expect(orphan.text).toMatch(/# TODO: 1 row\(s\) with NULL org_id that no backfill source places and nothing marks as shared .*backfill --assign-orphans-to ID/);
    // A tenant overrides the default under the unique (org_id, key) index: shared by design.
    await q(`INSERT INTO ip.templates VALUES (3, 1, 'welcome')`);
    const override = await draft();
    expect(override.scoped('templates')).toMatchObject({ sharedRows: true, orphans: false, sharedEvidence: ['tenants override 1 of them under templates_org_key (key)'] });
    expect(override.yaml.tables.templates.shared_rows).toBe(true);
    expect(override.text).toMatch(/shared_rows: true {3}# 1 row\(s\) with NULL org_id and no backfill source places them, shared by design: tenants override/);
    await q(`DELETE FROM ip.templates WHERE id = 3`);
    // A CHECK that names org_id IS NULL.
    await q(`ALTER TABLE ip.templates ADD COLUMN predefined boolean NOT NULL DEFAULT false; UPDATE ip.templates SET predefined = (org_id IS NULL);
             ALTER TABLE ip.templates ADD CONSTRAINT templates_predefined CHECK (predefined = (org_id IS NULL))`);
    expect((await draft()).scoped('templates').sharedEvidence).toEqual(['CHECK templates_predefined names org_id IS NULL']);
    await q(`ALTER TABLE ip.templates DROP CONSTRAINT templates_predefined, DROP COLUMN predefined`);
    // Rows of two tenants reference it (one tenant is not enough).
    await q(`CREATE TABLE ip.sends (id int PRIMARY KEY, org_id int NOT NULL REFERENCES ip.orgs, template_id int REFERENCES ip.templates);
             INSERT INTO ip.sends VALUES (1, 1, 1)`);
    expect((await draft()).scoped('templates')).toMatchObject({ sharedRows: false, orphans: true });
    await q(`INSERT INTO ip.sends VALUES (2, 2, 1)`);
    expect((await draft()).scoped('templates').sharedEvidence).toEqual(['rows of 2 tenants in sends reference them (template_id)']);
    await q(`DROP TABLE ip.sends`);
    // Once the rows have a tenant: neither.
    await q(`UPDATE ip.templates SET org_id = 2 WHERE org_id IS NULL`);
    const second = await draft();
    expect(second.scoped('templates')).toMatchObject({ sharedRows: false, orphans: false, nullRows: 0 });
    expect(second.yaml.tables.templates.shared_rows).toBeUndefined();
  });

  it('proposes unique keys (partial in the object form) and singleton from existing indexes; none once dropped', async () => {
    const { yaml } = await draft();
    expect(yaml.tables.codes.unique).toEqual([{ columns: ['code'], where: 'deleted_at IS NULL' }]);
    expect(yaml.tables.templates.unique).toEqual([['key']]);
    expect(yaml.tables.settings.singleton).toBe(true);
    // (id, org_id) exists for composite foreign keys: not a business key.
    expect(yaml.tables.memberships).toEqual({});
    await db().client.query(`DROP INDEX ip.codes_live; DROP INDEX ip.templates_org_key; ALTER TABLE ip.settings DROP CONSTRAINT settings_org_id_key`);
    const after = (await draft()).yaml;
    expect(after.tables.codes).toEqual({});
    expect(after.tables.templates?.unique).toBeUndefined();
    expect(after.tables.settings).toEqual({});
  });

  it('proposes composite_keys with the number of FKs between scoped tables; none when there are none', async () => {
    const { d, yaml, text } = await draft();
    // projects.owner_id, tasks.project_id, notes.task_id, notes.project_id, replies.a_note_id, replies.z_task_id.
    expect(d.compositeForeignKeys).toBe(6);
    expect(yaml.tenant.composite_keys).toBe(true);
    expect(text).toContain('composite_keys: true   # makes 6 foreign keys between scoped tables tenant-safe');
    await db().client.query(`CREATE SCHEMA ip2; CREATE TABLE ip2.orgs (id int PRIMARY KEY); CREATE TABLE ip2.a (id int PRIMARY KEY, org_id int REFERENCES ip2.orgs)`);
    const flat = await draftManifest(db().client, { schema: 'ip2' });
    expect(flat.compositeForeignKeys).toBe(0);
    expect(parse(renderDraft(flat)).tenant.composite_keys).toBeUndefined();
  });

  it('lists a *_type/*_id pair the data does not prove as a TODO comment with a ready entry; the draft stays a valid manifest', async () => {
    await db().client.query(`INSERT INTO ip.invoices VALUES (1, 1); INSERT INTO ip.payment_requests VALUES (1, 1)`);
    const { scoped, text } = await draft();
    expect(scoped('payments').polymorphic).toMatchObject([
      {
        typeColumn: 'payable_type',
        idColumn: 'payable_id',
        targets: [
          { type: 'Invoice', table: 'invoices' },
          { type: 'PaymentRequest', table: 'payment_requests' },
        ],
        unmatched: ['Refund'],
        doubt: 'no table for Refund',
      },
    ]);
    expect(text).toContain('not proposed: no table for Refund');
    expect(text).toContain('    # polymorphic: [{type: payable_type, id: payable_id, targets: {Invoice: invoices, PaymentRequest: payment_requests}}]');
    // Uncommented, the entry is what the manifest reads.
    const uncommented = text.replace('    # polymorphic:', '    polymorphic:').replaceAll('"TODO: reason"', 'lookup');
    const manifest = parseManifestText(uncommented);
    expect(manifest.tables.find((t) => t.name === 'payments')!.polymorphic).toEqual([
      { typeColumn: 'payable_type', idColumn: 'payable_id', targets: [{ type: 'Invoice', table: 'invoices' }, { type: 'PaymentRequest', table: 'payment_requests' }] },
    ]);
    // No pair: no TODO.
    expect(scoped('codes').polymorphic).toEqual([]);
  });

  it('names tables the Rails way', () => {
    expect(railsTableName('Invoice')).toBe('invoices');
    expect(railsTableName('PaymentRequest')).toBe('payment_requests');
    expect(railsTableName('Category')).toBe('categories');
    expect(railsTableName('Address')).toBe('addresses');
    expect(railsTableName('Billing::Invoice')).toBe('billing_invoices');
    expect(railsTableName('APIKey')).toBe('api_keys');
  });
});
