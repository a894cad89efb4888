// An unseen, fully compliant schema (uuid tenant `org_id`, three levels, a global lookup): no error, no warning, no write.
import { describe, expect, it } from 'vitest';
import { parseManifest, type Manifest } from '../../src/config/manifest.js';
import { runAudit } from '../../src/audit/runner.js';
import { ident } from '../../src/db/quote.js';
import { ensureStateSchema } from '../../src/state/state-schema.js';
import { useTestDatabase } from '../support/database.js';

const S = 'acme';
const SETTING = 'app.current_org';
const P = `org_id = (SELECT nullif(current_setting('${SETTING}', true), '')::uuid)`;

describe('a fully compliant schema the audit has never seen', () => {
  const db = useTestDatabase();
  let manifest: Manifest;
  let app: string;
  /** This file's roles: the fingerprint reads only these (roles are cluster-wide; other files create and drop theirs meanwhile). */
  const roles: string[] = [];
  const createRole = async (prefix: string, attributes?: string) => {
    const role = await db().createRole(prefix, attributes);
    roles.push(role);
    return role;
  };

  async function build(): Promise<void> {
    app = await createRole('web');
    const support = await createRole('support', 'BYPASSRLS');
    const migrator = await createRole('migrator');
    const a = ident(app);
    const tables = ['projects', 'tasks', 'comments'];
    const secure = (t: string) => `
      ALTER TABLE ${S}.${t} ENABLE ROW LEVEL SECURITY;
      ALTER TABLE ${S}.${t} FORCE ROW LEVEL SECURITY;
      CREATE POLICY tenant_isolation ON ${S}.${t} AS PERMISSIVE FOR ALL TO ${a} USING (${P}) WITH CHECK (${P});
      CREATE POLICY ${ident(`bypass_${support}`)} ON ${S}.${t} AS PERMISSIVE FOR SELECT TO ${ident(support)} USING (true);
      GRANT SELECT ON ${S}.${t} TO ${ident(support)};`;
    await db().client.query(`
      CREATE SCHEMA ${S};
      CREATE TABLE ${S}.organizations (org_id uuid PRIMARY KEY DEFAULT gen_random_uuid(), name text NOT NULL);
      CREATE TABLE ${S}.priorities (code text PRIMARY KEY, rank int NOT NULL);
      CREATE TABLE ${S}.projects (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        org_id uuid NOT NULL REFERENCES ${S}.organizations (org_id),
        name text NOT NULL,
        UNIQUE (org_id, id), UNIQUE (org_id, name));
      CREATE TABLE ${S}.tasks (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        org_id uuid NOT NULL REFERENCES ${S}.organizations (org_id),
        project_id bigint NOT NULL,
        priority text REFERENCES ${S}.priorities (code),
        title text NOT NULL,
        UNIQUE (org_id, id),
        FOREIGN KEY (org_id, project_id) REFERENCES ${S}.projects (org_id, id));
      CREATE INDEX ON ${S}.tasks (org_id, project_id);
      CREATE TABLE ${S}.comments (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        org_id uuid NOT NULL,
        task_id bigint NOT NULL,
        body text NOT NULL,
        UNIQUE (org_id, id));
      -- Constraints added the online way (NOT VALID, then VALIDATE): validated in the end.
      ALTER TABLE ${S}.comments ADD FOREIGN KEY (org_id) REFERENCES ${S}.organizations (org_id) NOT VALID;
      ALTER TABLE ${S}.comments ADD FOREIGN KEY (org_id, task_id) REFERENCES ${S}.tasks (org_id, id) NOT VALID;
      CREATE INDEX ON ${S}.comments (org_id, task_id);

      INSERT INTO ${S}.organizations (name) VALUES ('Initech'), ('Globex');
      INSERT INTO ${S}.priorities VALUES ('low', 1), ('high', 2);
      INSERT INTO ${S}.projects (org_id, name) SELECT org_id, name || ' ' || g FROM ${S}.organizations, generate_series(1, 3) g;
      INSERT INTO ${S}.tasks (org_id, project_id, priority, title) SELECT org_id, id, 'low', 'task of ' || name FROM ${S}.projects;
      INSERT INTO ${S}.comments (org_id, task_id, body) SELECT org_id, id, 'ok' FROM ${S}.tasks;
      ALTER TABLE ${S}.comments VALIDATE CONSTRAINT comments_org_id_fkey;
      ALTER TABLE ${S}.comments VALIDATE CONSTRAINT comments_org_id_task_id_fkey;

      -- The tenant table: an organization sees only itself.
      ALTER TABLE ${S}.organizations ENABLE ROW LEVEL SECURITY;
      ALTER TABLE ${S}.organizations FORCE ROW LEVEL SECURITY;
      CREATE POLICY tenant_isolation ON ${S}.organizations FOR ALL TO ${a} USING (${P}) WITH CHECK (${P});
      ${tables.map(secure).join('\n')}

      -- Owned by a migration role, not by the application; the application gets DML only.
      ${['organizations', 'priorities', ...tables].map((t) => `ALTER TABLE ${S}.${t} OWNER TO ${ident(migrator)};`).join('\n')}
      GRANT USAGE ON SCHEMA ${S} TO ${a}, ${ident(support)};
      GRANT SELECT ON ${S}.organizations, ${S}.priorities TO ${a};
      GRANT SELECT, INSERT, UPDATE, DELETE ON ${S}.projects, ${S}.tasks, ${S}.comments TO ${a};

      -- A view the application may read, running with the caller's rights.
      CREATE VIEW ${S}.open_tasks WITH (security_invoker = true) AS SELECT id, org_id, title FROM ${S}.tasks;
      GRANT SELECT ON ${S}.open_tasks TO ${a};

      -- A deliberate definer function (login lookup): pinned search_path, listed in the manifest.
      CREATE FUNCTION ${S}.org_by_name(n text) RETURNS uuid LANGUAGE sql STABLE SECURITY DEFINER
        SET search_path = pg_catalog, pg_temp AS 'SELECT org_id FROM acme.organizations WHERE name = n';
      REVOKE EXECUTE ON FUNCTION ${S}.org_by_name(text) FROM PUBLIC;
      GRANT EXECUTE ON FUNCTION ${S}.org_by_name(text) TO ${a};
    `);
    await ensureStateSchema(db().client, 'acme_tenancy');
    manifest = parseManifest({
      schema: S,
      state_schema: 'acme_tenancy',
      tenant: { table: 'organizations', key: 'org_id', column: 'org_id', setting: SETTING, composite_keys: true },
      roles: { app: [app], bypass: { [support]: 'support desk answers tickets of every organization' } },
      tables: {
        projects: { unique: [['name']] },
        tasks: { backfill: ['project_id'] },
        comments: { backfill: ['task_id'] },
      },
      exempt: { priorities: 'global lookup shared by every organization' },
      definer_functions: { org_by_name: 'login: find the organization before any tenant is set' },
    });
  }

  /** A checksum of every row of every user table, and of the catalog rows the audit could change. */
  async function fingerprint(): Promise<string> {
    const c = db().client;
    const tables = await c.query<{ s: string; t: string }>(
      `SELECT schemaname AS s, tablename AS t FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2`,
    );
    const parts: string[] = [];
    for (const { s, t } of tables.rows) {
      const q = `${ident(s)}.${ident(t)}`;
      parts.push(`${s}.${t}:${(await c.query(`SELECT md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) AS h FROM ${q} x`)).rows[0].h}`);
    }
    const catalog = await c.query(`SELECT md5(string_agg(x, '|' ORDER BY x)) AS h FROM (
        SELECT format('%s %s %s %s %s %s %s', oid, relname, relkind, relowner, relacl, reloptions, relrowsecurity::text || relforcerowsecurity::text) AS x FROM pg_class
        UNION ALL SELECT format('%s %s %s %s', polname, polrelid, pg_get_expr(polqual, polrelid), polroles) FROM pg_policy
        UNION ALL SELECT format('%s %s %s %s', oid, proname, proconfig, proacl) FROM pg_proc
        UNION ALL SELECT format('%s %s %s %s', rolname, rolsuper, rolbypassrls, rolcanlogin) FROM pg_roles WHERE rolname = ANY ($1::text[])
        UNION ALL SELECT format('%s %s', nspname, nspacl) FROM pg_namespace) c`,
      [roles],
    );
    return `${parts.join('\n')}\ncatalog:${catalog.rows[0].h}`;
  }

  it('gives zero errors and zero warnings (exit 0): bypass role and definer function as info only', async () => {
    await build();
    const result = await runAudit({ databaseUrl: db().url, manifest });
    const loud = result.findings.filter((f) => f.severity !== 'info').map((f) => `${f.check} ${f.table} ${f.object}: ${f.message}`);
    expect(loud).toEqual([]);
    expect(result.summary).toMatchObject({ error: 0, warning: 0, failing: 0 });
    expect(result.exitCode).toBe(0);
    expect(result.findings.map((f) => `${f.check} ${f.object}`).sort()).toEqual(
      [
        `app-role-bypasses-rls ${manifest.roles.bypass[0].role}`,
        `permissive-policy-bypass ${manifest.roles.bypass[0].role}`,
        'security-definer-function acme.org_by_name(text)',
      ].sort(),
    );
    // Every check ran; the catalog proved the NULL / cross-tenant scans unnecessary.
    expect(result.summary.checks).toBe(30);
    expect(result.runs.every((r) => !r.error)).toBe(true);
  });

  it('runs under a read-only role (USAGE + SELECT, BYPASSRLS to see the data) and changes nothing', async () => {
    const auditor = await createRole('auditor', 'BYPASSRLS');
    await db().client.query(`
      GRANT USAGE ON SCHEMA ${S}, acme_tenancy TO ${ident(auditor)};
      GRANT SELECT ON ALL TABLES IN SCHEMA ${S} TO ${ident(auditor)};
      GRANT SELECT ON ALL TABLES IN SCHEMA acme_tenancy TO ${ident(auditor)};`);
    const writable = await db().client.query(
      `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname IN ('${S}', 'acme_tenancy') AND c.relkind IN ('r', 'p')
          AND has_table_privilege($1, c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE')`,
      [auditor],
    );
    expect(writable.rows).toEqual([]);
    const before = await fingerprint();
    const asSuperuser = await runAudit({ databaseUrl: db().url, manifest });
    const asAuditor = await runAudit({ databaseUrl: db().urlFor(auditor), manifest });
    expect(asAuditor.summary).toMatchObject({ error: 0, warning: 0, failing: 0 });
    expect(asAuditor.exitCode).toBe(0);
    expect(asAuditor.findings.map((f) => f.fingerprint)).toEqual(asSuperuser.findings.map((f) => f.fingerprint));
    expect(await fingerprint()).toBe(before);
  });

  it('then finds a single planted hole in it (the schema is not clean by accident)', async () => {
    await db().client.query(`CREATE POLICY read_all ON ${S}.comments FOR SELECT TO PUBLIC USING (true)`);
    try {
      const result = await runAudit({ databaseUrl: db().url, manifest });
      expect(result.findings.filter((f) => f.severity !== 'info').map((f) => `${f.severity} ${f.check} ${f.table} ${f.object}`)).toEqual([
        'error permissive-policy-bypass acme.comments read_all',
      ]);
      expect(result.exitCode).toBe(1);
    } finally {
      await db().client.query(`DROP POLICY read_all ON ${S}.comments`);
    }
  });
});
