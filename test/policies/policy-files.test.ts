// Policy files: the exact template, the checksum header (edits survive generate), hostile identifiers.
import { readFile, writeFile, readdir, mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseManifest } from '../../src/config/manifest.js';
import { resolveLiveContext } from '../../src/config/live-context.js';
import { ident, literal, qualified } from '../../src/db/quote.js';
import {
  parsePolicyFile,
  policyFileName,
  readPolicyFiles,
  writePolicyFiles,
} from '../../src/policies/policy-files.js';
import { bypassPolicyName, parseQualifiedName, renderPolicyBody, tenantPredicate } from '../../src/policies/policy-sql.js';
import { applyPolicies, policyDiff } from '../../src/policies/apply.js';
import { verifyIsolation } from '../../src/verify/verify.js';
import { useTestDatabase } from '../support/database.js';

describe('the policy template', () => {
  it('renders the contract shape exactly', () => {
    expect(tenantPredicate('company_id', 'app.current_company_id', 'integer')).toBe(
      `"company_id" = (SELECT nullif(current_setting('app.current_company_id', true), '')::integer)`,
    );
    const body = renderPolicyBody({
      schema: 'public',
      table: 'deals',
      column: 'company_id',
      setting: 'app.current_company_id',
      type: 'integer',
      isTenantTable: false,
      appRoles: ['crm_app'],
      bypass: [{ role: 'crm_support', reason: 'support console' }],
      existing: [],
      sequences: [['public', 'deals_id_seq']],
    });
    expect(body).toContain('ALTER TABLE "public"."deals" ENABLE ROW LEVEL SECURITY;\nALTER TABLE "public"."deals" FORCE ROW LEVEL SECURITY;');
    expect(body).toContain(
      `DROP POLICY IF EXISTS "tenant_isolation" ON "public"."deals";\n` +
        `CREATE POLICY "tenant_isolation" ON "public"."deals" AS PERMISSIVE FOR ALL TO "crm_app"\n` +
        `  USING ("company_id" = (SELECT nullif(current_setting('app.current_company_id', true), '')::integer))\n` +
        `  WITH CHECK ("company_id" = (SELECT nullif(current_setting('app.current_company_id', true), '')::integer));`,
    );
    expect(body).toContain(`CREATE POLICY "bypass_crm_support" ON "public"."deals" AS PERMISSIVE FOR SELECT TO "crm_support" USING (true);`);
    expect(body).toContain(`GRANT USAGE ON SEQUENCE "public"."deals_id_seq" TO "crm_app";`);
  });

  it('is RESTRICTIVE when the table already has a permissive policy, and keeps that policy', () => {
    const body = renderPolicyBody({
      schema: 'public',
      table: 'notes',
      column: 'org_id',
      setting: 'app.org',
      type: 'uuid',
      isTenantTable: false,
      appRoles: ['app'],
      bypass: [],
      existing: [{ name: 'old', command: 'SELECT', permissive: true, roles: ['public'], using: 'true', withCheck: null }],
      sequences: [],
    });
    expect(body).toContain('AS RESTRICTIVE FOR ALL TO "app"');
    expect(body).toContain(`CREATE POLICY "old" ON "public"."notes" AS PERMISSIVE FOR SELECT TO PUBLIC\n  USING (true);`);
  });

  it('keeps policy names and file names within the limits for any identifier', () => {
    const long = 'r'.repeat(63);
    expect(Buffer.byteLength(bypassPolicyName(long))).toBeLessThanOrEqual(63);
    expect(bypassPolicyName(long)).not.toBe(bypassPolicyName(`${'r'.repeat(62)}s`));
    for (const name of ['a/b', '..', 'x.sql', 'dé"al;s', 'a b']) {
      const file = policyFileName(name);
      expect(file).not.toContain('/');
      expect(file.startsWith('.')).toBe(false);
      expect(decodeURIComponent(file.replace(/\.sql$/, ''))).toBe(name);
    }
    expect(parseQualifiedName('"we""ird"."s.q"')).toEqual(['we"ird', 's.q']);
    expect(parseQualifiedName('deals_id_seq')).toEqual(['deals_id_seq']);
    expect(parseQualifiedName('a; drop')).toBeUndefined();
  });
});

describe('policy files on a live database', () => {
  const db = useTestDatabase({ sample: true });

  it('never overwrites a hand-edited file without force; regenerates pristine ones', async () => {
    const manifest = parseManifest({
      tenant: { table: 'companies', key: 'id', column: 'company_id', setting: 'app.current_company_id' },
      roles: { app: ['crm_app_files_test'] },
      tables: { contacts: null, files: null },
    });
    const live = await resolveLiveContext(db().client, manifest);
    const dir = await mkdtemp(path.join(os.tmpdir(), 'crmt-files-'));
    const first = await writePolicyFiles({ live, dir });
    expect(first.map((r) => [r.table, r.status])).toEqual([
      ['companies', 'written'],
      ['contacts', 'written'],
      ['files', 'written'],
    ]);
    expect((await writePolicyFiles({ live, dir })).every((r) => r.status === 'unchanged')).toBe(true);

    const contacts = path.join(dir, 'contacts.sql');
    const edited = `${await readFile(contacts, 'utf8')}\n-- a DBA's note\n`;
    await writeFile(contacts, edited);
    expect(parsePolicyFile(contacts, edited)?.pristine).toBe(false);
    // A different manifest (another role) changes every file's content.
    const live2 = await resolveLiveContext(db().client, { ...manifest, roles: { app: ['other_app'], bypass: [] } });
    const second = await writePolicyFiles({ live: live2, dir });
    expect(Object.fromEntries(second.map((r) => [r.table, r.status]))).toEqual({
      companies: 'written',
      contacts: 'skipped-edited',
      files: 'written',
    });
    expect(await readFile(contacts, 'utf8')).toBe(edited);
    const forced = await writePolicyFiles({ live: live2, dir, force: true });
    expect(forced.find((r) => r.table === 'contacts')?.status).toBe('overwritten');
    expect(await readFile(contacts, 'utf8')).toContain('"other_app"');
    expect((await readPolicyFiles(dir)).every((f) => f.pristine)).toBe(true);
  });

  it('reads only files with the header, reporting the others', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'crmt-files-'));
    await writeFile(path.join(dir, 'stray.sql'), 'SELECT 1;\n');
    await expect(readPolicyFiles(dir)).rejects.toMatchObject({ code: 'io', problems: [expect.stringContaining('stray.sql')] });
  });
});

describe('hostile identifiers round-trip: generate → apply → diff → verify', () => {
  const db = useTestDatabase();

  it('works with quotes, dots, semicolons, spaces, unicode and 63-byte names', async () => {
    const c = db().client;
    const schema = 'crm "x".y; --';
    const tenants = 'Ørg"s; DROP TABLE x; --';
    const notes = `n.o/t'e"s ${'é'.repeat(20)}`.slice(0, 40);
    const key = 'k"ey';
    const column = `${'c'.repeat(60)}_id`; // 63 bytes
    expect(Buffer.byteLength(column)).toBe(63);
    const app = await db().createRole(`a"p p;`);
    const support = await db().createRole(`s.u'p`);
    await c.query(`CREATE SCHEMA ${ident(schema)}`);
    await c.query(`CREATE TABLE ${qualified(schema, tenants)} (${ident(key)} serial PRIMARY KEY, name text NOT NULL)`);
    await c.query(`INSERT INTO ${qualified(schema, tenants)} (name) VALUES ('a'), ('b')`);
    await c.query(
      `CREATE TABLE ${qualified(schema, notes)} (id serial PRIMARY KEY, ${ident(column)} integer NOT NULL REFERENCES ${qualified(schema, tenants)} (${ident(key)}), body text NOT NULL)`,
    );
    await c.query(`CREATE INDEX ON ${qualified(schema, notes)} (${ident(column)})`);
    await c.query(`INSERT INTO ${qualified(schema, notes)} (${ident(column)}, body) SELECT 1 + (g % 2), 'x' FROM generate_series(1, 9) g`);
    const manifest = parseManifest({
      schema,
      state_schema: 'crm_tenancy "state"',
      tenant: { table: tenants, key, column, setting: 'app.tenant' },
      roles: { app: [app], bypass: { [support]: 'support; reads everything\nsecond line' } },
      tables: { [notes]: null },
    });
    const dir = await mkdtemp(path.join(os.tmpdir(), 'crmt-hostile-'));
    const written = await writePolicyFiles({ live: await resolveLiveContext(c, manifest), dir });
    expect(written.map((w) => w.table)).toEqual([tenants, notes]);
    expect((await readdir(dir)).length).toBe(2);
    const files = await readPolicyFiles(dir);
    expect(files.map((f) => [f.schema, f.table]).sort()).toEqual([[schema, notes], [schema, tenants]].sort());

    const applied = await applyPolicies({ client: c, manifest, policiesDir: dir });
    expect(applied.refusals).toEqual([]);
    expect(applied.tables.map((t) => t.status)).toEqual(['applied', 'applied']);
    expect((await policyDiff({ client: c, manifest, policiesDir: dir })).drift).toEqual([]);

    const result = await verifyIsolation({ client: c, manifest });
    expect(result.failures).toEqual([]);
    expect(result.probes.filter((p) => p.table === notes && p.probe === 'select-own')[0].status).toBe('pass');

    // Two-sided: a careless policy on the hostile table is caught by name.
    await c.query(`CREATE POLICY ${ident('care"less')} ON ${qualified(schema, notes)} FOR SELECT USING (true)`);
    const diff = await policyDiff({ client: c, manifest, policiesDir: dir });
    expect(diff.drift).toMatchObject([{ table: notes, kind: 'extra-policy', object: 'care"less' }]);
    const broken = await verifyIsolation({ client: c, manifest });
    expect(broken.failures.map((f) => [f.table, f.probe])).toEqual([
      [notes, 'select-own'],
      [notes, 'select-no-tenant'],
    ]);
  });
});

describe('catalog names with line breaks stay inert', () => {
  const db = useTestDatabase();

  it('a kept policy, its expression and a serial sequence named with newlines apply as they are; nothing else runs', async () => {
    const c = db().client;
    const attack = (what: string) => `${what}\nDELETE FROM public.victim; --`;
    await c.query(`CREATE TABLE public.victim (id int PRIMARY KEY); INSERT INTO public.victim VALUES (1), (2), (3)`);
    await c.query(`CREATE SCHEMA s`);
    await c.query(`CREATE TABLE s.orgs (id bigint PRIMARY KEY)`);
    await c.query(
      `CREATE TABLE s.notes (${ident(attack('id'))} bigserial PRIMARY KEY, org_id bigint NOT NULL REFERENCES s.orgs (id), ${ident(attack('body'))} text)`,
    );
    await c.query(
      `CREATE POLICY ${ident(attack('old */ policy'))} ON s.notes FOR SELECT USING (${ident(attack('body'))} <> ${literal(attack("it's"))})`,
    );
    const app = await db().createRole('inert_app');
    const manifest = parseManifest({
      schema: 's',
      tenant: { table: 'orgs', key: 'id', column: 'org_id', setting: 'app.org' },
      roles: { app: [app], bypass: {} },
      tables: { notes: null },
    });
    const dir = await mkdtemp(path.join(os.tmpdir(), 'crmt-inert-'));
    await writePolicyFiles({ live: await resolveLiveContext(c, manifest), dir });
    const text = await readFile(path.join(dir, 'notes.sql'), 'utf8');
    // The names are in the file, spelled without a raw line break: no line starts with the injected statement.
    expect(text.split('\n').filter((l) => /^\s*DELETE\b/i.test(l))).toEqual([]);
    expect(text).not.toMatch(/[\r\u2028\u2029]/u);
    expect(text).toContain(`CREATE POLICY ${ident(attack('old */ policy'))} ON "s"."notes" AS PERMISSIVE FOR SELECT TO PUBLIC`);
    expect(text).toMatch(/GRANT USAGE ON SEQUENCE "s"\.U&"notes_id\\000aDELETE FROM public\.victim; -[^"]*_seq" TO /);

    const applied = await applyPolicies({ client: c, manifest, policiesDir: dir });
    expect(applied.tables.map((t) => t.status)).toEqual(['applied', 'applied']);
    expect((await c.query(`SELECT count(*)::int AS n FROM public.victim`)).rows[0].n).toBe(3);
    const kept = await c.query(
      `SELECT policyname, qual FROM pg_catalog.pg_policies WHERE schemaname = 's' AND tablename = 'notes' ORDER BY policyname`,
    );
    expect(kept.rows.map((r) => r.policyname)).toEqual([attack('old */ policy'), 'tenant_isolation']);
    // The kept expression is the same one (PostgreSQL prints the literal back with its raw newline).
    expect(kept.rows[0].qual).toBe(`("${attack('body')}" <> '${attack("it''s")}'::text)`);
    expect((await policyDiff({ client: c, manifest, policiesDir: dir })).drift).toEqual([]);
  });
});

describe('partitioned tables', () => {
  const db = useTestDatabase();

  it('every partition gets the policies (a partition queried directly skips the parent\'s); diff sees a partition drift', async () => {
    const c = db().client;
    const app = await db().createRole('part_app');
    await c.query(`CREATE SCHEMA part`);
    await c.query(`CREATE TABLE part.orgs (id integer PRIMARY KEY, name text NOT NULL)`);
    await c.query(`INSERT INTO part.orgs VALUES (1, 'one'), (2, 'two'), (3, 'three')`);
    await c.query(`CREATE TABLE part.events (id bigint NOT NULL, org_id integer NOT NULL REFERENCES part.orgs, body text NOT NULL,
                     PRIMARY KEY (org_id, id)) PARTITION BY LIST (org_id)`);
    await c.query(`CREATE TABLE part.events_one PARTITION OF part.events FOR VALUES IN (1)`);
    await c.query(`CREATE TABLE part.events_rest PARTITION OF part.events DEFAULT PARTITION BY HASH (id)`);
    await c.query(`CREATE TABLE part.events_rest_0 PARTITION OF part.events_rest FOR VALUES WITH (MODULUS 2, REMAINDER 0)`);
    await c.query(`CREATE TABLE part.events_rest_1 PARTITION OF part.events_rest FOR VALUES WITH (MODULUS 2, REMAINDER 1)`);
    await c.query(`INSERT INTO part.events SELECT g, 1 + g % 3, 'e' FROM generate_series(1, 30) g`);
    const manifest = parseManifest({
      schema: 'part',
      tenant: { table: 'orgs', key: 'id', column: 'org_id', setting: 'app.org' },
      roles: { app: [app] },
      tables: { events: null },
    });
    const dir = await mkdtemp(path.join(os.tmpdir(), 'crmt-part-'));
    await writePolicyFiles({ live: await resolveLiveContext(c, manifest), dir });
    const text = await readFile(path.join(dir, 'events.sql'), 'utf8');
    for (const p of ['events_one', 'events_rest', 'events_rest_0', 'events_rest_1']) {
      expect(text).toContain(`ALTER TABLE "part"."${p}" FORCE ROW LEVEL SECURITY;`);
      expect(text).toContain(`CREATE POLICY "tenant_isolation" ON "part"."${p}"`);
    }
    expect((await applyPolicies({ client: c, manifest, policiesDir: dir })).ok).toBe(true);

    // Queried directly (someone granted it), a partition still shows only the tenant's rows.
    await c.query(`GRANT SELECT ON part.events_rest_0 TO ${ident(app)}`);
    await c.query('BEGIN');
    await c.query(`SET LOCAL ROLE ${ident(app)}`);
    await c.query(`SELECT set_config('app.org', '2', true)`);
    const { rows } = await c.query(`SELECT count(*)::int AS n, count(*) FILTER (WHERE org_id <> 2)::int AS other FROM part.events_rest_0`);
    await c.query('ROLLBACK');
    expect(rows[0].other).toBe(0);
    expect(rows[0].n).toBeGreaterThan(0);

    expect((await policyDiff({ client: c, manifest, policiesDir: dir })).drift).toEqual([]);
    await c.query(`CREATE POLICY careless ON part.events_rest_1 FOR SELECT USING (true)`);
    const diff = await policyDiff({ client: c, manifest, policiesDir: dir });
    expect(diff.drift).toMatchObject([{ table: 'events_rest_1', kind: 'extra-policy', object: 'careless' }]);
    await c.query(`ALTER TABLE part.events_one NO FORCE ROW LEVEL SECURITY`);
    const diff2 = await policyDiff({ client: c, manifest, policiesDir: dir });
    expect(diff2.drift.map((d) => [d.table, d.kind])).toEqual([
      ['events_one', 'rls'],
      ['events_rest_1', 'extra-policy'],
    ]);
    expect((await verifyIsolation({ client: c, manifest })).failures).toEqual([]);
  });
});
