// init's polymorphic inference, each side planted and fixed on real PostgreSQL: a pair is a manifest
// entry only when every type value names exactly one table (Rails `Admin::User`, Laravel `App\Models\X`,
// Prisma model names, Django content types), every id is a row of it, and every target is scoped;
// otherwise a TODO comment saying why. A table reached only through a proven pair is scoped.
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseManifestText } from '../../src/config/manifest.js';
import { draftManifest, renderDraft, type PolymorphicProposal } from '../../src/init/draft-manifest.js';
import { candidateTables } from '../../src/init/polymorphic-pairs.js';
import { useTestDatabase } from '../support/database.js';

describe('init: polymorphic pairs from the data', () => {
  const db = useTestDatabase();
  const q = (text: string) => db().client.query(text);

  async function draft() {
    const d = await draftManifest(db().client, { schema: 'pp' });
    const text = renderDraft(d);
    const kind = (name: string) => d.tables.find((t) => t.name === name)!.classification;
    const pairs = (name: string) => (kind(name) as { polymorphic: PolymorphicProposal[] }).polymorphic;
    return { d, text, yaml: parse(text), kind, pairs };
  }

  it('sets up a schema', async () => {
    await q(`
      CREATE SCHEMA pp; SET search_path = pp;
      CREATE TABLE orgs (id int PRIMARY KEY);
      INSERT INTO orgs VALUES (1), (2);
      CREATE TABLE invoices (id int PRIMARY KEY, org_id int NOT NULL REFERENCES orgs);
      CREATE TABLE admin_users (id uuid PRIMARY KEY, org_id int NOT NULL REFERENCES orgs);
      CREATE TABLE "Ticket" (id bigint PRIMARY KEY, org_id int NOT NULL REFERENCES orgs);
      INSERT INTO invoices VALUES (1, 1), (2, 2);
      INSERT INTO admin_users VALUES ('00000000-0000-0000-0000-000000000001', 1);
      INSERT INTO "Ticket" VALUES (7, 2);
      -- paper_trail-like: no tenant column, no foreign key; Rails names, a namespaced one, text ids.
      CREATE TABLE versions (id bigint PRIMARY KEY, item_type text NOT NULL, item_id text NOT NULL);
      INSERT INTO versions VALUES (1, 'Invoice', '1'), (2, 'Admin::User', '00000000-0000-0000-0000-000000000001');
      -- Laravel class names and a Prisma model name (the table is the model).
      CREATE TABLE comments (id int PRIMARY KEY, org_id int NOT NULL REFERENCES orgs, commentable_type text, commentable_id bigint);
      INSERT INTO comments VALUES (1, 1, 'App\\Models\\Invoice', 1), (2, 2, 'Ticket', 7), (3, 2, NULL, NULL);
      -- Django: content types.
      CREATE TABLE django_content_type (id int PRIMARY KEY, app_label text NOT NULL, model text NOT NULL);
      INSERT INTO django_content_type VALUES (11, 'billing', 'invoice'), (12, 'desk', 'ticket');
      CREATE TABLE billing_invoice (id int PRIMARY KEY, org_id int NOT NULL REFERENCES orgs);
      INSERT INTO billing_invoice VALUES (5, 1);
      CREATE TABLE tags (id int PRIMARY KEY, org_id int NOT NULL REFERENCES orgs,
                         content_type_id int NOT NULL REFERENCES django_content_type, object_id text NOT NULL);
      INSERT INTO tags VALUES (1, 1, 11, '5');
      RESET search_path;`);
  });

  it('proposes a proven pair as an entry, says how it was inferred, and scopes a table reached only through it', async () => {
    const { yaml, text, kind } = await draft();
    expect(yaml.tables.versions.polymorphic).toEqual([{ type: 'item_type', id: 'item_id', targets: { 'Admin::User': 'admin_users', Invoice: 'invoices' } }]);
    expect(kind('versions')).toMatchObject({ kind: 'scoped', why: 'reaches orgs through the polymorphic pair item_type/item_id → admin_users, invoices' });
    expect(text).toContain('# inferred: every item_type value names a table (Rails class → table (Admin::User → admin_users, Invoice → invoices)) and all 2 item_id value(s) are rows of it');
    expect(yaml.tables.comments.polymorphic).toEqual([
      { type: 'commentable_type', id: 'commentable_id', targets: { 'App\\Models\\Invoice': 'invoices', Ticket: 'Ticket' } },
    ]);
    expect(text).toContain('Laravel class → table (App\\Models\\Invoice → invoices); the table of that name (Ticket → Ticket)');
    expect(yaml.tables.tags.polymorphic).toEqual([{ type: 'content_type_id', id: 'object_id', targets: { '11': 'billing_invoice' } }]);
    expect(text).toContain('Django content type → app_label_model table (11 → billing_invoice)');
    // The draft is a manifest as it stands (exempt reasons aside).
    const manifest = parseManifestText(text.replaceAll('"TODO: reason"', 'lookup'));
    expect(manifest.tables.find((t) => t.name === 'versions')!.polymorphic[0].targets).toEqual([
      { type: 'Admin::User', table: 'admin_users' },
      { type: 'Invoice', table: 'invoices' },
    ]);
  });

  it('keeps a pair a TODO when an id is missing, a type names no table or several, or a target is not scoped; each fixed, it is proposed', async () => {
    // A version of a deleted invoice (paper_trail keeps them): not every id is there.
    await q(`INSERT INTO pp.versions VALUES (3, 'Invoice', '99')`);
    let d = await draft();
    expect(d.pairs('versions')[0].doubt).toBe('1 row(s) name an id that is not there');
    expect(d.kind('versions').kind).toBe('exempt');
    expect(d.text).toContain('# TODO: versions holds a polymorphic pair');
    expect(d.text).toContain('not proposed: 1 row(s) name an id that is not there');
    await q(`DELETE FROM pp.versions WHERE id = 3`);
    expect((await draft()).kind('versions').kind).toBe('scoped');

    // Both invoice and invoices exist: 'Invoice' could mean either.
    await q(`CREATE TABLE pp.invoice (id int PRIMARY KEY, org_id int NOT NULL REFERENCES pp.orgs)`);
    d = await draft();
    expect(d.pairs('comments')[0].doubt).toBe('several tables could be meant by App\\Models\\Invoice');
    expect(d.yaml.tables.comments).toBeNull();
    expect(d.text).toContain('    # polymorphic: [{type: commentable_type, id: commentable_id, targets: {Ticket: Ticket}}]');
    await q(`DROP TABLE pp.invoice`);
    expect((await draft()).pairs('comments')[0].doubt).toBeUndefined();

    // A type no table answers to.
    await q(`INSERT INTO pp.comments VALUES (4, 1, 'Refund', 1)`);
    expect((await draft()).pairs('comments')[0].doubt).toBe('no table for Refund');
    await q(`DELETE FROM pp.comments WHERE id = 4`);

    // A target outside the tenancy (a global table): no trigger could check its tenant.
    await q(`CREATE TABLE pp.countries (id int PRIMARY KEY); INSERT INTO pp.countries VALUES (1); INSERT INTO pp.comments VALUES (6, 1, 'Country', 1)`);
    d = await draft();
    expect(d.pairs('comments')[0].doubt).toBe('countries is not scoped');
    await q(`DELETE FROM pp.comments WHERE id = 6; DROP TABLE pp.countries`);
    expect((await draft()).yaml.tables.comments.polymorphic).toHaveLength(1);
  });

  it('reads class names the Rails, Laravel and Prisma ways', () => {
    expect(candidateTables('Admin::User').map((c) => c.table)).toEqual(['Admin::User', 'admin_users', 'admin_user']);
    expect(candidateTables('App\\Models\\PaymentRequest').map((c) => c.table)).toEqual(['App\\Models\\PaymentRequest', 'payment_requests', 'payment_request']);
    expect(candidateTables('Category')[1]).toEqual({ table: 'categories', how: 'Rails class → table' });
  });
});
