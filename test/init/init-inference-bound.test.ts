// init's polymorphic inference on real PostgreSQL, its cost and its bound: with an index leading with
// the type column the values come from a loose index scan and the draft is the same as without it;
// a read stopped by --inference-timeout (a table of 2 M rows read within 30 ms) leaves the pair a TODO
// saying why, and init still finishes; a bad --inference-timeout is a usage error. (Not a lock held by
// another session: the catalog read before the inference would wait behind it too.)
import path from 'node:path';
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { readCatalog } from '../../src/db/catalog.js';
import { draftManifest, renderDraft, type PolymorphicProposal } from '../../src/init/draft-manifest.js';
import { distinctValuesSql, looseScanIndex } from '../../src/init/type-values.js';
import { runCli } from '../support/cli.js';
import { useTestDatabase } from '../support/database.js';
import { useTempDirs } from '../migrate/support.js';

describe('init: polymorphic inference, loose index scan and --inference-timeout', () => {
  const db = useTestDatabase();
  const tempDir = useTempDirs();
  const q = (text: string) => db().client.query(text);

  async function draft(options: { inferenceTimeoutMs?: number } = {}) {
    const d = await draftManifest(db().client, { schema: 'pb', ...options });
    const pairs = (name: string) => (d.tables.find((t) => t.name === name)!.classification as { polymorphic: PolymorphicProposal[] }).polymorphic;
    return { d, text: renderDraft(d), pairs };
  }

  it('sets up a schema', async () => {
    await q(`
      CREATE SCHEMA pb; SET search_path = pb;
      CREATE TABLE orgs (id int PRIMARY KEY);
      INSERT INTO orgs VALUES (1), (2);
      CREATE TABLE invoices (id int PRIMARY KEY, org_id int NOT NULL REFERENCES orgs);
      CREATE TABLE admin_users (id int PRIMARY KEY, org_id int NOT NULL REFERENCES orgs);
      INSERT INTO invoices SELECT g, 1 + g % 2 FROM generate_series(1, 50) g;
      INSERT INTO admin_users VALUES (1, 1), (2, 2);
      -- Proven: Rails names, NULL types among them.
      CREATE TABLE versions (id bigint PRIMARY KEY, item_type varchar(255), item_id text);
      INSERT INTO versions SELECT g, CASE g % 3 WHEN 0 THEN 'Invoice' WHEN 1 THEN 'Admin::User' END, CASE g % 3 WHEN 0 THEN (1 + g % 50)::text WHEN 1 THEN (1 + g % 2)::text END
        FROM generate_series(1, 3000) g;
      -- A TODO: a type no table answers to, and a dangling id.
      CREATE TABLE comments (id int PRIMARY KEY, org_id int NOT NULL REFERENCES orgs, commentable_type text, commentable_id int);
      INSERT INTO comments VALUES (1, 1, 'Invoice', 1), (2, 1, 'Refund', 1), (3, 2, NULL, NULL), (4, 2, 'Invoice', 999);
      -- A TODO: free-form, more than 50 values (which 50 are named must not depend on the index).
      CREATE TABLE notes (id int PRIMARY KEY, org_id int NOT NULL REFERENCES orgs, subject_type text, subject_id int);
      INSERT INTO notes SELECT g, 1, 'Kind' || g, g FROM generate_series(1, 80) g;
      -- Django content types, ids whose text order is not their number order (9 < 11, '11' < '9').
      CREATE TABLE django_content_type (id int PRIMARY KEY, app_label text NOT NULL, model text NOT NULL);
      INSERT INTO django_content_type VALUES (9, 'billing', 'invoice'), (11, 'desk', 'ticket');
      CREATE TABLE billing_invoice (id int PRIMARY KEY, org_id int NOT NULL REFERENCES orgs);
      CREATE TABLE desk_ticket (id int PRIMARY KEY, org_id int NOT NULL REFERENCES orgs);
      INSERT INTO billing_invoice VALUES (5, 1); INSERT INTO desk_ticket VALUES (6, 2);
      CREATE TABLE tags (id int PRIMARY KEY, org_id int NOT NULL REFERENCES orgs,
                         content_type_id int NOT NULL REFERENCES django_content_type, object_id text NOT NULL);
      INSERT INTO tags VALUES (1, 1, 9, '5'), (2, 2, 11, '6');
      -- Big enough that no read of it finishes within BOUND_MS (≈0.3 s for the GROUP BY here).
      CREATE UNLOGGED TABLE events (id bigint, subject_type text, subject_id int);
      INSERT INTO events SELECT g, CASE WHEN g % 2 = 0 THEN 'Invoice' END, 1 + g % 50 FROM generate_series(1, 2000000) g;
      RESET search_path;
      ANALYZE pb.versions; ANALYZE pb.events;`);
  });

  const BOUND_MS = 30;

  it('a read that hits the bound leaves the pair a TODO saying why; the rest of the draft is unchanged', async () => {
    const free = await draft();
    expect(free.pairs('events')[0]).toMatchObject({ targets: [{ type: 'Invoice', table: 'invoices' }], rows: 1_000_000 });
    expect(free.pairs('events')[0].doubt).toBeUndefined();
    const bounded = await draft({ inferenceTimeoutMs: BOUND_MS });
    const reason = `type column subject_type of events (≈2M rows) not read within ${BOUND_MS}ms: add an index on (subject_type) or raise --inference-timeout`;
    expect(bounded.pairs('events')[0]).toMatchObject({ doubt: reason, targets: [] });
    expect(bounded.d.tables.find((t) => t.name === 'events')!.classification.kind).toBe('exempt');
    expect(bounded.text).toContain(`# TODO: subject_type/subject_id look like a polymorphic reference (no type values seen); not proposed: ${reason}; check the targets`);
    // Every other table drafted as without the bound.
    expect(bounded.d.tables.filter((t) => t.name !== 'events')).toEqual(free.d.tables.filter((t) => t.name !== 'events'));
    // The session's own settings are back.
    const s = await q(`SELECT current_setting('statement_timeout') AS st, current_setting('lock_timeout') AS lt`);
    expect(s.rows[0]).toEqual({ st: '0', lt: '0' });

    // With an index the values come at once; the id check (1 M rows of Invoice) is what the bound stops.
    await q(`CREATE INDEX events_type ON pb.events (subject_type)`);
    try {
      const indexed = await draft({ inferenceTimeoutMs: BOUND_MS });
      expect(indexed.pairs('events')[0]).toMatchObject({
        targets: [{ type: 'Invoice', table: 'invoices' }],
        index: 'events_type',
        doubt: `subject_id values of type Invoice of events (≈2M rows) not read within ${BOUND_MS}ms: raise --inference-timeout`,
      });
    } finally {
      await q(`DROP INDEX pb.events_type`);
    }
  });

  it('the CLI: --inference-timeout bounds the reads, the pair stays a TODO, init exits as with any TODO; a bad value exits 2', async () => {
    const dir = await tempDir();
    const common = ['--database-url', db().url, '--schema', 'pb'];
    const r = await runCli(['init', ...common, '--inference-timeout', `${BOUND_MS}ms`, '--output', path.join(dir, 'tenancy.yaml')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`polymorphic pair\\(s\\) to check \\(TODO comments\\), 1 of them not read within --inference-timeout ${BOUND_MS}ms`));
    const text = await readFile(path.join(dir, 'tenancy.yaml'), 'utf8');
    expect(text).toContain(`not proposed: type column subject_type of events (≈2M rows) not read within ${BOUND_MS}ms: add an index on (subject_type) or raise --inference-timeout`);
    // The default (30s) reads it.
    const free = await runCli(['init', ...common, '--stdout']);
    expect(free.code, free.stderr).toBe(0);
    expect(free.stdout).toContain('  events:\n    polymorphic:\n      - {type: subject_type, id: subject_id, targets: {Invoice: invoices}}   # inferred');

    for (const bad of ['soon', '0', '-5s', '1.5ms']) {
      const b = await runCli(['init', ...common, '--stdout', '--inference-timeout', bad]);
      expect(b.code, bad).toBe(2);
      expect(b.stdout).toBe('');
      expect(b.stderr.trim().split('\n'), b.stderr).toEqual([`error: --inference-timeout must be a duration of at least 1 ms (500, 500ms, 2s, 5min), not ${bad}`]);
    }
  });

  it('with an index on each type column: the values come from a loose index scan, and the draft is the same', async () => {
    const before = await draft();
    expect(before.pairs('versions')[0]).toMatchObject({ index: undefined, rows: 2000 });
    expect(before.pairs('versions')[0].doubt).toBeUndefined();
    expect(before.pairs('comments')[0].doubt).toBe('no table for Refund');
    expect(before.pairs('notes')[0].doubt).toBe('more than 50 type values');
    expect(before.pairs('tags')[0].targets).toEqual([
      { type: '11', table: 'desk_ticket' },
      { type: '9', table: 'billing_invoice' },
    ]);

    await q(`CREATE INDEX versions_item ON pb.versions (item_type, item_id);
             CREATE INDEX comments_type ON pb.comments (commentable_type);
             CREATE INDEX notes_type ON pb.notes (subject_type DESC);
             CREATE INDEX tags_ct ON pb.tags (content_type_id);
             -- Not walkable: not leading, partial, a pattern opclass.
             CREATE INDEX comments_id_type ON pb.comments (commentable_id, commentable_type);
             ANALYZE pb.versions`);
    const after = await draft();
    expect(after.text).toBe(before.text);
    const strip = (d: typeof before) => JSON.parse(JSON.stringify(d.d, (k, v) => (k === 'index' ? undefined : v)));
    expect(strip(after)).toEqual(strip(before));
    expect(after.pairs('versions')[0].index).toBe('versions_item');
    expect(after.pairs('comments')[0].index).toBe('comments_type');
    expect(after.pairs('notes')[0].index).toBe('notes_type');
    expect(after.pairs('tags')[0].index).toBe('tags_ct');

    // The query run walks the index, one probe per value: no scan of the table.
    const catalog = await readCatalog(db().client, ['pb']);
    const versions = [...catalog.relations.values()].find((t) => t.name === 'versions')!;
    const col = versions.columns.find((c) => c.name === 'item_type')!;
    const sql = distinctValuesSql(versions, col, 51, await looseScanIndex(db().client, versions, col));
    expect(sql).toMatch(/^WITH RECURSIVE/);
    const plan = (await q(`EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ${sql}`)).rows.map((r) => r['QUERY PLAN']).join('\n');
    expect(plan).toContain('Recursive Union');
    expect(plan).toMatch(/Index Only Scan using versions_item on versions/);
    expect(plan).not.toContain('Seq Scan');
    // Three index visits in all for two values (the third finds none above the last).
    expect(plan).toMatch(/Index Only Scan using versions_item on versions x \(actual rows=\d+ loops=2\)/);
  });

  it('walks only an index it can: valid, btree, not partial, the default operator class, the column leading', async () => {
    const catalog = await readCatalog(db().client, ['pb']);
    const comments = [...catalog.relations.values()].find((t) => t.name === 'comments')!;
    const col = comments.columns.find((c) => c.name === 'commentable_type')!;
    await q(`DROP INDEX pb.comments_type`);
    expect(await looseScanIndex(db().client, comments, col)).toBeUndefined();
    for (const index of [
      `CREATE INDEX comments_type ON pb.comments (commentable_type) WHERE commentable_id > 1`,
      `CREATE INDEX comments_type ON pb.comments (commentable_type text_pattern_ops)`,
      `CREATE INDEX comments_type ON pb.comments USING hash (commentable_type)`,
      `CREATE INDEX comments_type ON pb.comments (commentable_type COLLATE "C")`,
    ]) {
      await q(index);
      expect(await looseScanIndex(db().client, comments, col), index).toBeUndefined();
      await q(`DROP INDEX pb.comments_type`);
    }
    await q(`CREATE INDEX comments_type ON pb.comments (commentable_type); UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'pb.comments_type'::regclass`);
    expect(await looseScanIndex(db().client, comments, col)).toBeUndefined();
    await q(`DROP INDEX pb.comments_type`);
  });
});
