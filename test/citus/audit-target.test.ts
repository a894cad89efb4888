// audit on a Citus coordinator: the existing checks read RLS, policies and roles from the coordinator, the data checks run on distributed tables, and --target citus adds the blockers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { previousFromJson } from '../../src/audit/incremental/read-previous.js';
import { runAudit } from '../../src/audit/runner.js';
import { renderJson } from '../../src/report/json.js';
import { parseManifest, type Manifest } from '../../src/config/manifest.js';
import { resolveLiveContext } from '../../src/config/live-context.js';
import { ident } from '../../src/db/quote.js';
import { policyTargets, renderPolicyBody } from '../../src/policies/policy-sql.js';
import { CITUS_URL, citusScratch, skipMessage } from './citus-support.js';

const skip = skipMessage('audit on Citus');

describe.skipIf(Boolean(skip))('audit on a Citus coordinator', () => {
  let scratch: Awaited<ReturnType<typeof citusScratch>>;
  let manifest: Manifest;
  const url = CITUS_URL!;
  const q = (name: string) => `${ident(scratch.schema)}.${ident(name)}`;
  const sql = async (text: string) => {
    for (const statement of text.split(';\n')) if (statement.trim()) await scratch.client.query(statement);
  };
  beforeAll(async () => {
    scratch = await citusScratch();
    const app = await scratch.role('app');
    await sql(`CREATE SCHEMA ${ident(scratch.schema)};
      CREATE TABLE ${q('companies')} (id integer PRIMARY KEY, name text NOT NULL);
      CREATE TABLE ${q('contacts')} (company_id integer NOT NULL REFERENCES ${q('companies')} (id), id bigint NOT NULL, name text, PRIMARY KEY (company_id, id));
      CREATE TABLE ${q('deals')} (company_id integer NOT NULL REFERENCES ${q('companies')} (id), id bigint NOT NULL, contact_id bigint,
        PRIMARY KEY (company_id, id), FOREIGN KEY (company_id, contact_id) REFERENCES ${q('contacts')} (company_id, id));
      CREATE INDEX ON ${q('contacts')} (company_id);
      CREATE INDEX ON ${q('deals')} (company_id);
      INSERT INTO ${q('companies')} VALUES (1, 'a'), (2, 'b');
      INSERT INTO ${q('contacts')} VALUES (1, 1, 'x'), (2, 2, 'y');
      INSERT INTO ${q('deals')} VALUES (1, 10, 1), (2, 20, 2);
      SELECT create_distributed_table('${scratch.schema}.companies', 'id');
      SELECT create_distributed_table('${scratch.schema}.contacts', 'company_id', colocate_with => '${scratch.schema}.companies');
      SELECT create_distributed_table('${scratch.schema}.deals', 'company_id', colocate_with => '${scratch.schema}.companies');
      GRANT USAGE ON SCHEMA ${ident(scratch.schema)} TO ${ident(app)}`);
    manifest = parseManifest({
      schema: scratch.schema,
      state_schema: `${scratch.schema}_state`,
      tenant: { table: 'companies', key: 'id', column: 'company_id', setting: 'app.current_company_id', composite_keys: true },
      roles: { app: [app] },
      tables: { contacts: null, deals: { backfill: ['contact_id'] } },
      distribution: 'citus',
    });
    const live = await resolveLiveContext(scratch.client, manifest);
    for (const target of policyTargets(live)) await sql(renderPolicyBody(target));
  });
  afterAll(async () => {
    await scratch?.cleanup();
  });

  it('a distributed schema secured with the Citus policy form passes every check (the Citus ones included)', async () => {
    const r = await runAudit({ databaseUrl: url, manifest, concurrency: 2 });
    expect(r.checks.some((c) => c.id === 'citus-key-without-tenant')).toBe(true);
    expect(r.findings.filter((f) => f.severity !== 'info').map((f) => `${f.check} ${f.table} ${f.object} ${f.message}`)).toEqual([]);
    expect(r.exitCode).toBe(0);
  });

  it('reads RLS and policies from the coordinator: RLS off on a distributed table is found', async () => {
    await sql(`ALTER TABLE ${q('deals')} NO FORCE ROW LEVEL SECURITY`);
    const r = await runAudit({ databaseUrl: url, manifest, only: ['rls-not-forced'], concurrency: 1 });
    expect(r.findings.map((f) => f.table)).toEqual([`${scratch.schema}.deals`]);
    await sql(`ALTER TABLE ${q('deals')} FORCE ROW LEVEL SECURITY`);
    expect((await runAudit({ databaseUrl: url, manifest, only: ['rls-not-forced'], concurrency: 1 })).findings).toEqual([]);
  });

  it('data checks scan distributed tables (--deep): the foreign-key join and the key scans run across the shards', async () => {
    const r = await runAudit({ databaseUrl: url, manifest, only: ['null-tenant', 'cross-tenant-reference', 'unknown-tenant'], concurrency: 2, deep: true });
    expect(r.dataChecks.map((d) => [d.check, d.status])).toEqual([
      ['null-tenant', 'scanned'],
      ['cross-tenant-reference', 'scanned'],
      ['unknown-tenant', 'scanned'],
    ]);
    expect(r.findings).toEqual([]);
  });

  it('data checks find planted defects on distributed tables: a duplicate within a tenant, an unknown tenant', async () => {
    await sql(`INSERT INTO ${q('contacts')} VALUES (1, 3, 'x');
      ALTER TABLE ${q('deals')} DROP CONSTRAINT deals_company_id_fkey;
      INSERT INTO ${q('deals')} VALUES (99, 30, NULL)`);
    const keyed = { ...manifest, tables: manifest.tables.map((t) => (t.name === 'contacts' ? { ...t, unique: [{ columns: ['name'], same: [] }] } : t)) };
    const r = await runAudit({ databaseUrl: url, manifest: keyed, only: ['duplicate-within-tenant', 'unknown-tenant'], concurrency: 2 });
    expect(r.findings.map((f) => [f.check, f.table, f.count])).toEqual([
      ['duplicate-within-tenant', `${scratch.schema}.contacts`, 1],
      ['unknown-tenant', `${scratch.schema}.deals`, 1],
    ]);
    await sql(`DELETE FROM ${q('contacts')} WHERE id = 3;
      DELETE FROM ${q('deals')} WHERE company_id = 99;
      ALTER TABLE ${q('deals')} ADD CONSTRAINT deals_company_id_fkey FOREIGN KEY (company_id) REFERENCES ${q('companies')} (id)`);
    expect((await runAudit({ databaseUrl: url, manifest: keyed, only: ['duplicate-within-tenant', 'unknown-tenant'], concurrency: 2 })).findings).toEqual([]);
  });

  it('--since on Citus: the rows on the workers carry the workers\u2019 transaction ids, so every data check runs in full, saying why', async () => {
    const only = ['null-tenant', 'cross-tenant-reference', 'unknown-tenant'];
    const first = await runAudit({ databaseUrl: url, manifest, only, concurrency: 2, deep: true });
    expect(first.findings).toEqual([]);
    expect(first.snapshot!.unusable).toMatch(/^Citus is installed/);
    const previous = previousFromJson('previous.json', JSON.parse(renderJson(first)));
    // As if the previous run had been taken elsewhere and served: this run still refuses to cut by xmin.
    previous.snapshot!.unusable = undefined;
    await sql(`ALTER TABLE ${q('deals')} DROP CONSTRAINT deals_company_id_fkey;
      INSERT INTO ${q('deals')} VALUES (99, 31, NULL)`);
    const since = await runAudit({ databaseUrl: url, manifest, only, concurrency: 2, deep: true, since: previous });
    const full = await runAudit({ databaseUrl: url, manifest, only, concurrency: 2, deep: true });
    expect(since.findings.map((f) => [f.check, f.table, f.count])).toEqual(full.findings.map((f) => [f.check, f.table, f.count]));
    expect(since.incremental!.global).toMatch(/^Citus is installed: rows on its worker nodes carry the workers/);
    expect(full.findings.map((f) => [f.check, f.count])).toEqual([['unknown-tenant', 1]]);
    expect(since.incremental!.tables.every((t) => t.mode !== 'incremental')).toBe(true);
    await sql(`DELETE FROM ${q('deals')} WHERE company_id = 99;
      ALTER TABLE ${q('deals')} ADD CONSTRAINT deals_company_id_fkey FOREIGN KEY (company_id) REFERENCES ${q('companies')} (id)`);
  });
});
