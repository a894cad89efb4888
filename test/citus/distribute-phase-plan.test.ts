// The distribute phase's plan and SQL on plain PostgreSQL (no Citus needed): order, skips, guards, and nothing of it without distribution citus.
import { describe, expect, it } from 'vitest';
import { resolveLiveContext } from '../../src/config/live-context.js';
import { readCitusState } from '../../src/citus/citus-state.js';
import { foreignKeyOrder, planDistribute } from '../../src/migrate/plan-distribute.js';
import { planTenancy } from '../../src/migrate/plan.js';
import { splitStatements } from '../../src/migrate/migration-file.js';
import { renderMigrations } from '../../src/migrate/render.js';
import { ident } from '../../src/db/quote.js';
import { dropRedundantUnique } from '../../src/migrate/render-distribute.js';
import { doBlock } from '../../src/migrate/render-sql.js';
import { useTestDatabase } from '../support/database.js';
import { fixture } from '../audit/check-helpers.js';

describe('distribute phase plan (plain PostgreSQL)', () => {
  const db = useTestDatabase();
  const sql = async (text: string) => {
    await db().client.query(text);
  };

  it('orders parents first (a cycle broken in manifest order), the tenant table first, references before', async () => {
    const fx = await fixture(db().client, (p, a) => db().createRole(p, a), { tables: ['deals', 'contacts', 'a', 'b'], bare: true });
    await sql(`ALTER TABLE ${fx.q('deals')} ADD COLUMN contact_id integer, ADD FOREIGN KEY (tenant_id, contact_id) REFERENCES ${fx.q('contacts')} (tenant_id, id);
      ALTER TABLE ${fx.q('a')} ADD COLUMN b_id integer, ADD FOREIGN KEY (tenant_id, b_id) REFERENCES ${fx.q('b')} (tenant_id, id);
      ALTER TABLE ${fx.q('b')} ADD COLUMN a_id integer, ADD FOREIGN KEY (tenant_id, a_id) REFERENCES ${fx.q('a')} (tenant_id, id);
      CREATE TABLE ${fx.q('roles')} (id integer PRIMARY KEY);
      ALTER TABLE ${fx.q('contacts')} ADD COLUMN role_id integer REFERENCES ${fx.q('roles')} (id)`);
    const manifest = fx.manifest({ distribution: 'citus', exempt: { roles: { reason: 'global catalogue', reference: true } } });
    const live = await resolveLiveContext(db().client, manifest);
    expect(foreignKeyOrder(live, ['deals', 'contacts', 'a', 'b'])).toEqual(['contacts', 'deals', 'b', 'a']);
    const state = await readCitusState(db().client, fx.schema);
    expect(state.version).toBeNull();
    const plan = planDistribute(live, state);
    expect(plan.steps.map((s) => `${s.kind} ${s.table}${s.kind === 'citus-distribute' ? ` ${s.column}${s.colocateWith ? ` → ${s.colocateWith}` : ''}` : ''}`)).toEqual([
      'citus-reference roles',
      'citus-distribute tenants id',
      'citus-distribute contacts tenant_id → tenants',
      'citus-distribute deals tenant_id → tenants',
      'citus-distribute b tenant_id → tenants',
      'citus-distribute a tenant_id → tenants',
    ]);
    // Already distributed (as pg_dist_partition would say): left out; a reference wanted as distributed: named.
    const partial = planDistribute(live, { version: '13.2-1', tables: new Map([['tenants', 'distributed'], ['roles', 'reference'], ['a', 'reference']]) });
    expect(partial.steps.map((s) => s.table)).toEqual(['contacts', 'deals', 'b']);
    expect(partial.skipped.map((s) => s.table)).toContain('a');
  });

  it('swaps a primary key without the tenant column, skips shared_rows tables, and renders repeatable SQL', async () => {
    const fx = await fixture(db().client, (p, a) => db().createRole(p, a), { tables: ['notes', 'templates'], bare: true });
    await sql(`ALTER TABLE ${fx.q('notes')} DROP CONSTRAINT notes_pkey, ADD PRIMARY KEY (id)`);
    const manifest = fx.manifest({ distribution: 'citus', tables: { notes: null, templates: { shared_rows: true } } });
    const live = await resolveLiveContext(db().client, manifest);
    const plan = planDistribute(live, await readCitusState(db().client, fx.schema));
    expect(plan.steps.map((s) => `${s.kind} ${s.table}`)).toEqual(['citus-distribute tenants', 'citus-primary-key notes', 'citus-distribute notes']);
    expect(plan.skipped.map((s) => s.table)).toEqual(['templates']);
    const files = renderMigrations(live, planTenancy(live).steps, { firstIndex: 1, distribute: plan.steps });
    const last = files[files.length - 1];
    expect(last.phase).toBe('distribute');
    expect(last.meta.provides).toEqual(['citus-distribute:tenants', 'citus-primary-key:notes', 'citus-distribute:notes']);
    expect(last.text).toContain('phase 6 of 6');
    expect(last.text).toContain(`CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS "notes_tenant_id_id_pkey"\n  ON "${fx.schema}"."notes" ("tenant_id", "id");`);
    expect(last.text).toContain(`IF NOT EXISTS (SELECT FROM pg_dist_partition WHERE logicalrelid = '"${fx.schema}"."notes"'::regclass) OR`);
    expect(last.text).toContain(`PERFORM undistribute_table('"${fx.schema}"."notes"', cascade_via_foreign_keys => true);`);
    expect(last.text).toMatch(/Lock: EXCLUSIVE on \S*notes\S* \(writes wait, reads go on\)/);
    // Without distribution citus: no distribute file, and the other files keep "of 5".
    const plain = renderMigrations(live, planTenancy(live).steps, { firstIndex: 1 });
    expect(plain.some((f) => f.phase === 'distribute')).toBe(false);
    expect(plain[0].text).toMatch(/phase \d of 5 —/);
  });

  it('the PK swap runs on plain PostgreSQL and is repeatable (a hostile table name too); the distribute block refuses without Citus', async () => {
    const fx = await fixture(db().client, (p, a) => db().createRole(p, a), { tables: ['notes', `we"ird'; DROP TABLE x; --`], bare: true });
    await sql(`ALTER TABLE ${fx.q('notes')} DROP CONSTRAINT notes_pkey, ADD PRIMARY KEY (id)`);
    const weird = `we"ird'; DROP TABLE x; --`;
    const weirdPk = (await db().client.query(`SELECT conname FROM pg_constraint WHERE conrelid = $1::regclass AND contype = 'p'`, [fx.q(weird)])).rows[0].conname;
    await sql(`ALTER TABLE ${fx.q(weird)} DROP CONSTRAINT ${ident(weirdPk)}, ADD PRIMARY KEY (id)`);
    const live = await resolveLiveContext(db().client, fx.manifest({ distribution: 'citus' }));
    const plan = planDistribute(live, await readCitusState(db().client, fx.schema));
    const text = renderMigrations(live, [], { firstIndex: 1, distribute: plan.steps })[0].text;
    const up = text.slice(text.indexOf('-- Up Migration'), text.indexOf('-- Down Migration'));
    const statements = splitStatements(up);
    // The preflight refuses on plain PostgreSQL with a clear message.
    await expect(db().client.query(statements.find((s) => s.includes("extname = 'citus'"))!)).rejects.toThrow(/the distribute phase needs Citus/);
    const swap = statements.filter((s) => !s.includes("extname = 'citus'") && !s.includes('create_distributed_table'));
    for (let run = 0; run < 2; run++) for (const s of swap) await db().client.query(s);
    const pk = await db().client.query(`SELECT pg_get_constraintdef(oid) AS def, conname FROM pg_constraint WHERE conrelid = $1::regclass AND contype = 'p'`, [fx.q('notes')]);
    expect(pk.rows).toEqual([{ def: 'PRIMARY KEY (tenant_id, id)', conname: 'notes_tenant_id_id_pkey' }]);
    const weirdAfter = await db().client.query(`SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conrelid = $1::regclass AND contype = 'p'`, [fx.q(weird)]);
    expect(weirdAfter.rows).toEqual([{ def: 'PRIMARY KEY (tenant_id, id)' }]);
  });

  it('one unique index on (tenant, id) after the swap: the equal UNIQUE constraint dropped (kept with a NOTICE while a foreign key the phase keeps needs it), restored by down', async () => {
    const weird = `pa"re'nt; --`;
    const fx = await fixture(db().client, (p, a) => db().createRole(p, a), { tables: [weird, 'kids'], bare: true });
    const c = db().client;
    const uniqueName = `u "key"; --`;
    const pkName = (await c.query(`SELECT conname FROM pg_constraint WHERE conrelid = $1::regclass AND contype = 'p'`, [fx.q(weird)])).rows[0].conname;
    // The composite phase's state: PRIMARY KEY (id), UNIQUE (tenant_id, id), a composite foreign key bound to the UNIQUE.
    await sql(`ALTER TABLE ${fx.q(weird)} DROP CONSTRAINT ${ident(pkName)}, ADD PRIMARY KEY (id), ADD CONSTRAINT ${ident(uniqueName)} UNIQUE (tenant_id, id);
      ALTER TABLE ${fx.q('kids')} ADD COLUMN parent_id integer, ADD CONSTRAINT kids_parent_fkey FOREIGN KEY (tenant_id, parent_id) REFERENCES ${fx.q(weird)} (tenant_id, id)`);
    const live = await resolveLiveContext(c, fx.manifest({ distribution: 'citus' }));
    const plan = planDistribute(live, await readCitusState(c, fx.schema));
    const key = plan.steps.find((s) => s.kind === 'citus-primary-key' && s.table === weird);
    expect(key).toMatchObject({ newColumns: ['tenant_id', 'id'], unique: uniqueName });
    if (key?.kind !== 'citus-primary-key' || !key.unique) throw new Error('no key step');
    // Without one in the catalog, the composite phase's planned UNIQUE is taken (columns in the same order only).
    const kidsPk = (await c.query(`SELECT conname FROM pg_constraint WHERE conrelid = $1::regclass AND contype = 'p'`, [fx.q('kids')])).rows[0].conname;
    await sql(`ALTER TABLE ${fx.q('kids')} DROP CONSTRAINT ${ident(kidsPk)}, ADD PRIMARY KEY (id)`);
    const live2 = await resolveLiveContext(c, fx.manifest({ distribution: 'citus' }));
    const planned = (columns: string[]) =>
      planDistribute(live2, { version: null, tables: new Map() }, new Set(), [{ table: 'kids', constraintName: 'kids_tenant_id_id_key', columns }]).steps.find(
        (s) => s.kind === 'citus-primary-key' && s.table === 'kids',
      );
    expect(planned(['tenant_id', 'id'])).toMatchObject({ unique: 'kids_tenant_id_id_key' });
    expect(planned(['id', 'tenant_id'])).not.toHaveProperty('unique');

    const text = renderMigrations(live, [], { firstIndex: 1, distribute: [key] })[0].text;
    const upText = text.slice(text.indexOf('-- Up Migration'), text.indexOf('-- Down Migration'));
    const downText = text.slice(text.indexOf('-- Down Migration'));
    const uniques = async () =>
      (
        await c.query(
          `SELECT count(*)::int AS n, count(*) FILTER (WHERE i.indisprimary)::int AS pk FROM pg_index i
            WHERE i.indrelid = $1::regclass AND i.indisunique AND i.indnatts = 2`,
          [fx.q(weird)],
        )
      ).rows[0];
    const boundTo = async () =>
      (await c.query(`SELECT i.relname::text AS idx FROM pg_constraint con JOIN pg_class i ON i.oid = con.conindid WHERE con.conname = 'kids_parent_fkey' AND con.conrelid = $1::regclass`, [fx.q('kids')]))
        .rows[0]?.idx;
    // Up, minus Citus: the key swap, then the distribute transaction's part for this table (its foreign keys dropped and re-added around it).
    for (const s of splitStatements(upText).filter((x) => !x.includes("extname = 'citus'") && !x.includes('create_distributed_table'))) await c.query(s);
    expect(await uniques()).toEqual({ n: 2, pk: 1 });
    const drop = doBlock(dropRedundantUnique(fx.schema, { ...key, unique: key.unique }).join('\n'), '  uq record;\n  deps text;');
    const notices: string[] = [];
    const onNotice = (n: { message?: string }) => notices.push(n.message ?? '');
    c.on('notice', onNotice);
    try {
      // A foreign key the phase does not drop still binds to the UNIQUE: kept, said in a NOTICE.
      await c.query(drop);
      expect(await uniques()).toEqual({ n: 2, pk: 1 });
      expect(notices.join('\n')).toMatch(/kept UNIQUE .* still depends on it/);
      expect(notices.join('\n')).toContain('kids_parent_fkey');
      // The phase's own case: the foreign key dropped first, re-added after.
      await sql(`ALTER TABLE ${fx.q('kids')} DROP CONSTRAINT kids_parent_fkey`);
      // Its index is the replica identity's: kept too (dropping it would leave the table without one).
      await sql(`ALTER TABLE ${fx.q(weird)} REPLICA IDENTITY USING INDEX ${ident(uniqueName)}`);
      notices.length = 0;
      await c.query(drop);
      expect(await uniques()).toEqual({ n: 2, pk: 1 });
      expect(notices.join('\n')).toContain('the replica identity');
      await sql(`ALTER TABLE ${fx.q(weird)} REPLICA IDENTITY DEFAULT`);
      for (let run = 0; run < 2; run++) await c.query(drop);
    } finally {
      c.off('notice', onNotice);
    }
    await sql(`ALTER TABLE ${fx.q('kids')} ADD CONSTRAINT kids_parent_fkey FOREIGN KEY (tenant_id, parent_id) REFERENCES ${fx.q(weird)} (tenant_id, id)`);
    expect(await uniques()).toEqual({ n: 1, pk: 1 });
    expect(await boundTo()).toBe(key.newName);
    // Down, minus Citus (twice: repeatable): PRIMARY KEY (id), the UNIQUE back on its own index, the foreign key bound to it.
    for (let run = 0; run < 2; run++) for (const s of splitStatements(downText).filter((x) => !x.includes('undistribute_table'))) await c.query(s);
    const cons = await c.query(`SELECT conname::text AS name, pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conrelid = $1::regclass AND contype IN ('p', 'u') ORDER BY contype`, [fx.q(weird)]);
    expect(cons.rows).toEqual([
      { name: key.name, def: 'PRIMARY KEY (id)' },
      { name: uniqueName, def: 'UNIQUE (tenant_id, id)' },
    ]);
    expect(await boundTo()).toBe(uniqueName);
    await expect(c.query(`INSERT INTO ${fx.q('tenants')} VALUES (1, 'a'), (2, 'b'); INSERT INTO ${fx.q(weird)} VALUES (1, 1, 'x'); INSERT INTO ${fx.q('kids')} (id, tenant_id, parent_id) VALUES (1, 2, 1)`)).rejects.toThrow(/kids_parent_fkey/);
  });
});
