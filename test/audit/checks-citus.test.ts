// The Citus checks 0031–0038 (audit --target citus), two-sided on plain PostgreSQL: plant the blocker → its finding; fix it → none.
import { describe, expect, it } from 'vitest';
import { runAudit } from '../../src/audit/runner.js';
import { parseManifest } from '../../src/config/manifest.js';
import { useTestDatabase } from '../support/database.js';
import { brief, check, fixture, predicate, SETTING } from './check-helpers.js';

const CITUS = { distribution: 'citus' };

describe('Citus checks (two-sided, plain PostgreSQL)', () => {
  const db = useTestDatabase();
  const sql = async (text: string) => {
    await db().client.query(text);
  };
  const make = (tables: string[] = ['notes'], bare = false) => fixture(db().client, (p, a) => db().createRole(p, a), { tables, bare });

  it('run only for --target citus or a manifest with distribution: citus', async () => {
    const fx = await make();
    await sql(`CREATE UNIQUE INDEX ON ${fx.q('notes')} (body)`);
    const plain = await runAudit({ databaseUrl: db().url, manifest: fx.manifest(), concurrency: 1 });
    expect(plain.checks.some((c) => c.id.startsWith('citus-'))).toBe(false);
    const targeted = await runAudit({ databaseUrl: db().url, manifest: fx.manifest(), target: 'citus', only: ['citus-key-without-tenant'], concurrency: 1 });
    expect(targeted.findings.map((f) => f.object)).toEqual(['notes_body_idx']);
    await expect(runAudit({ databaseUrl: db().url, manifest: fx.manifest(), only: ['citus-key-without-tenant'], concurrency: 1 })).rejects.toThrow(/runs only with --target citus/);
  });

  it('citus-key-without-tenant: a primary key, unique index or EXCLUDE without the tenant column; the tenant table by its key', async () => {
    const fx = await make(['notes', 'tags', 'slots']);
    await sql(`ALTER TABLE ${fx.q('notes')} DROP CONSTRAINT notes_pkey, ADD PRIMARY KEY (id);
      CREATE UNIQUE INDEX tags_body_key ON ${fx.q('tags')} (body) WHERE body IS NOT NULL;
      ALTER TABLE ${fx.q('slots')} ADD COLUMN during int4range, ADD CONSTRAINT slots_during_excl EXCLUDE USING gist (during WITH &&);
      ALTER TABLE ${fx.q('tenants')} ADD CONSTRAINT tenants_name_key UNIQUE (name)`);
    const manifest = fx.manifest(CITUS);
    const found = await check(db().url, manifest, 'citus-key-without-tenant');
    expect(found.map((f) => `${f.table} ${f.object}`).sort()).toEqual([
      `${fx.schema}.notes notes_pkey`,
      `${fx.schema}.slots slots_during_excl`,
      `${fx.schema}.tags tags_body_key`,
      `${fx.schema}.tenants tenants_name_key`,
    ]);
    expect(found.find((f) => f.object === 'notes_pkey')?.message).toContain('generate --target citus swaps it for (tenant_id, id)');
    // The tenant table as a reference table is not distributed: its keys are its own business.
    expect((await check(db().url, fx.manifest({ ...CITUS, tenant: { table: 'tenants', key: 'id', column: 'tenant_id', setting: SETTING, reference: true } }), 'citus-key-without-tenant')).map((f) => f.object)).not.toContain('tenants_name_key');
    await sql(`ALTER TABLE ${fx.q('notes')} DROP CONSTRAINT notes_pkey, ADD PRIMARY KEY (tenant_id, id);
      DROP INDEX ${fx.q('tags_body_key')}; CREATE UNIQUE INDEX tags_body_key ON ${fx.q('tags')} (tenant_id, body) WHERE body IS NOT NULL;
      ALTER TABLE ${fx.q('slots')} DROP CONSTRAINT slots_during_excl;
      ALTER TABLE ${fx.q('tenants')} DROP CONSTRAINT tenants_name_key`);
    expect(await brief(db().url, manifest, 'citus-key-without-tenant')).toEqual([]);
  });

  it('citus-fk-without-tenant: a single-column FK between scoped tables; the composite one is clean', async () => {
    const fx = await make(['contacts', 'deals']);
    await sql(`ALTER TABLE ${fx.q('deals')} ADD COLUMN contact_id integer;
      ALTER TABLE ${fx.q('contacts')} ADD CONSTRAINT contacts_id_key UNIQUE (id);
      ALTER TABLE ${fx.q('deals')} ADD CONSTRAINT deals_contact_id_fkey FOREIGN KEY (contact_id) REFERENCES ${fx.q('contacts')} (id)`);
    const manifest = fx.manifest(CITUS);
    const found = await check(db().url, manifest, 'citus-fk-without-tenant');
    expect(found.map((f) => `${f.severity} ${f.table} ${f.object}`)).toEqual([`error ${fx.schema}.deals deals_contact_id_fkey`]);
    expect(found[0].message).toContain('does not map its tenant_id onto contacts.tenant_id');
    // The FK to the tenant table on the tenant column (tenant_id → tenants.id) is fine: not reported.
    await sql(`ALTER TABLE ${fx.q('deals')} DROP CONSTRAINT deals_contact_id_fkey;
      ALTER TABLE ${fx.q('deals')} ADD CONSTRAINT deals_contact_id_fkey FOREIGN KEY (tenant_id, contact_id) REFERENCES ${fx.q('contacts')} (tenant_id, id)`);
    expect(await brief(db().url, manifest, 'citus-fk-without-tenant')).toEqual([]);
  });

  it('citus-foreign-key-placement: an exempt table referencing a scoped one; a scoped table referencing a lookup that is not reference: true', async () => {
    const fx = await make(['users']);
    await sql(`CREATE TABLE ${fx.q('sessions')} (id bigserial PRIMARY KEY, tenant_id integer, user_id integer,
        FOREIGN KEY (tenant_id, user_id) REFERENCES ${fx.q('users')} (tenant_id, id));
      CREATE TABLE ${fx.q('roles')} (id integer PRIMARY KEY, name text);
      ALTER TABLE ${fx.q('users')} ADD COLUMN role_id integer REFERENCES ${fx.q('roles')} (id)`);
    const exempt = { sessions: 'looked up by token before the tenant is known', roles: 'global role catalogue' };
    const found = await check(db().url, fx.manifest({ ...CITUS, exempt }), 'citus-foreign-key-placement');
    expect(found.map((f) => `${f.table} ${f.object}`).sort()).toEqual([
      `${fx.schema}.sessions sessions_tenant_id_user_id_fkey`,
      `${fx.schema}.users users_role_id_fkey`,
    ]);
    expect(found.find((f) => f.object === 'users_role_id_fkey')?.message).toContain('would stay a local table');
    expect(found.find((f) => f.object === 'sessions_tenant_id_user_id_fkey')?.message).toContain('(a local table) references users, which is distributed');
    // roles as a reference table; sessions without the foreign key.
    await sql(`ALTER TABLE ${fx.q('sessions')} DROP CONSTRAINT sessions_tenant_id_user_id_fkey`);
    const fixed = { sessions: exempt.sessions, roles: { reason: exempt.roles, reference: true } };
    expect(await brief(db().url, fx.manifest({ ...CITUS, exempt: fixed }), 'citus-foreign-key-placement')).toEqual([]);
  });

  it('citus-distribution-type-differs: a domain over the key type, or another collation, cannot be co-located', async () => {
    const fx = await make(['notes', 'files'], true);
    await sql(`CREATE DOMAIN ${fx.q('tenant_ref')} AS integer;
      ALTER TABLE ${fx.q('files')} ALTER COLUMN tenant_id TYPE ${fx.q('tenant_ref')}`);
    const manifest = fx.manifest(CITUS);
    const found = await check(db().url, manifest, 'citus-distribution-type-differs');
    expect(found.map((f) => `${f.severity} ${f.table} ${f.object}`)).toEqual([`error ${fx.schema}.files tenant_id`]);
    expect(found[0].message).toContain('the tenant key tenants.id is integer');
    // tenant-column-type-mismatch reads the domain as integer: this is only a Citus blocker.
    expect(await brief(db().url, fx.manifest(), 'tenant-column-type-mismatch')).toEqual([]);
    await sql(`ALTER TABLE ${fx.q('files')} ALTER COLUMN tenant_id TYPE integer`);
    expect(await brief(db().url, manifest, 'citus-distribution-type-differs')).toEqual([]);
  });

  it('citus-distribution-type-differs: a text tenant column with another collation than the text key', async () => {
    await sql(`CREATE SCHEMA cit_coll;
      CREATE TABLE cit_coll.orgs (slug text COLLATE "C" PRIMARY KEY);
      CREATE TABLE cit_coll.notes (id integer, org_slug text COLLATE "POSIX", PRIMARY KEY (org_slug, id))`);
    const manifest = parseManifest({
      schema: 'cit_coll',
      tenant: { table: 'orgs', key: 'slug', column: 'org_slug', setting: 'app.org' },
      roles: { app: ['cit_coll_app_never_created'] },
      tables: { notes: null },
      distribution: 'citus',
    });
    const found = await check(db().url, manifest, 'citus-distribution-type-differs');
    expect(found.map((f) => f.message)).toEqual(['notes.org_slug is text (collation POSIX), the tenant key orgs.slug is text (collation C): Citus cannot co-locate them']);
    await sql(`ALTER TABLE cit_coll.notes ALTER COLUMN org_slug TYPE text COLLATE "C"`);
    expect(await brief(db().url, manifest, 'citus-distribution-type-differs')).toEqual([]);
  });

  it('citus-policy-not-distributable: the scalar-subquery read and a VOLATILE function; the Citus form is clean', async () => {
    const fx = await make();
    const manifest = fx.manifest(CITUS);
    // The fixture's policies are the one-node form: (SELECT nullif(current_setting(…)))
    const found = await check(db().url, manifest, 'citus-policy-not-distributable');
    expect(found.map((f) => `${f.severity} ${f.table} ${f.object}`).sort()).toEqual([
      `error ${fx.schema}.notes tenant_isolation`,
      `error ${fx.schema}.tenants tenant_isolation`,
    ]);
    expect(found[0].message).toContain('holds a subquery');
    const citusForm = (column: string) => `${column} = nullif(current_setting('${SETTING}', true), '')::integer`;
    await sql(`DROP POLICY tenant_isolation ON ${fx.q('notes')};
      CREATE POLICY tenant_isolation ON ${fx.q('notes')} FOR ALL TO ${fx.app} USING (${citusForm('tenant_id')} AND random() >= 0) WITH CHECK (${citusForm('tenant_id')});
      DROP POLICY tenant_isolation ON ${fx.q('tenants')};
      CREATE POLICY tenant_isolation ON ${fx.q('tenants')} FOR ALL TO ${fx.app} USING (${citusForm('id')}) WITH CHECK (${citusForm('id')})`);
    const volatile = await check(db().url, manifest, 'citus-policy-not-distributable');
    expect(volatile.map((f) => f.object)).toEqual(['tenant_isolation']);
    expect(volatile[0].message).toContain('VOLATILE function random');
    await sql(`ALTER POLICY tenant_isolation ON ${fx.q('notes')} USING (${citusForm('tenant_id')})`);
    expect(await brief(db().url, manifest, 'citus-policy-not-distributable')).toEqual([]);
    // Without distribution citus the same predicate reads as it always did.
    void predicate;
  });

  it('citus-small-sequence: serial and integer identity warn; bigint sequences are clean', async () => {
    const fx = await make(['notes', 'tags']);
    await sql(`ALTER TABLE ${fx.q('notes')} ADD COLUMN seq serial;
      ALTER TABLE ${fx.q('tags')} ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY`);
    const manifest = fx.manifest(CITUS);
    const found = await check(db().url, manifest, 'citus-small-sequence');
    expect(found.map((f) => `${f.severity} ${f.table} ${f.object}`).sort()).toEqual([
      `warning ${fx.schema}.notes seq`,
      `warning ${fx.schema}.tags id`,
    ]);
    expect(found[0].message).toContain('inserts run on a worker node fail');
    await sql(`ALTER TABLE ${fx.q('notes')} ALTER COLUMN seq TYPE bigint; ALTER SEQUENCE ${fx.q('notes_seq_seq')} AS bigint;
      ALTER TABLE ${fx.q('tags')} ALTER COLUMN id TYPE bigint`);
    expect(await brief(db().url, manifest, 'citus-small-sequence')).toEqual([]);
  });

  it('citus-table-trigger: a user trigger on a scoped or reference table; foreign-key triggers do not count', async () => {
    const fx = await make(['notes']);
    await sql(`CREATE TABLE ${fx.q('roles')} (id integer PRIMARY KEY);
      CREATE FUNCTION ${fx.q('touch')}() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
      CREATE TRIGGER notes_touch BEFORE UPDATE ON ${fx.q('notes')} FOR EACH ROW EXECUTE FUNCTION ${fx.q('touch')}();
      CREATE TRIGGER roles_touch BEFORE UPDATE ON ${fx.q('roles')} FOR EACH ROW EXECUTE FUNCTION ${fx.q('touch')}()`);
    const manifest = fx.manifest({ ...CITUS, exempt: { roles: { reason: 'global role catalogue', reference: true } } });
    const found = await check(db().url, manifest, 'citus-table-trigger');
    expect(found.map((f) => `${f.severity} ${f.table} ${f.object}`).sort()).toEqual([
      `error ${fx.schema}.notes notes_touch`,
      `error ${fx.schema}.roles roles_touch`,
    ]);
    expect(found.find((f) => f.object === 'roles_touch')?.message).toContain('create_reference_table refuses');
    await sql(`DROP TRIGGER notes_touch ON ${fx.q('notes')}; DROP TRIGGER roles_touch ON ${fx.q('roles')}`);
    expect(await brief(db().url, manifest, 'citus-table-trigger')).toEqual([]);
  });

  it('citus-shared-rows-table: a shared_rows table cannot be distributed', async () => {
    const fx = await make(['notes', 'templates']);
    const found = await check(db().url, fx.manifest({ ...CITUS, tables: { notes: null, templates: { shared_rows: true } } }), 'citus-shared-rows-table');
    expect(found.map((f) => `${f.severity} ${f.table}`)).toEqual([`error ${fx.schema}.templates`]);
    expect(await brief(db().url, fx.manifest(CITUS), 'citus-shared-rows-table')).toEqual([]);
  });
});
