// Shared helpers of the audit check tests: a fresh schema per test, a manifest for it, one check run.
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { parseManifest, type Manifest } from '../../src/config/manifest.js';
import { runAudit } from '../../src/audit/runner.js';
import { ident, literal, qualified } from '../../src/db/quote.js';

export const SETTING = 'app.tenant_id';
/** The generated policy's predicate (src/policies/policy-sql.ts) for an integer tenant column. */
export const predicate = (column = 'tenant_id', type = 'integer'): string =>
  `${ident(column)} = (SELECT nullif(current_setting(${literal(SETTING)}, true), '')::${type})`;

export interface Fixture {
  schema: string;
  app: string;
  /** `schema.name` quoted. */
  q(name: string): string;
  manifest(extra?: Partial<Record<string, unknown>>): Manifest;
}

export interface FixtureOptions {
  /** Scoped tables to create: (id, tenant_id) with a composite (tenant_id, id) key. */
  tables?: string[];
  /** Schema name; unique by default. */
  schema?: string;
  /** Leave RLS off (default: ENABLE + FORCE + the generated policy on every scoped table and the tenant table). */
  bare?: boolean;
  /** Prefix of the application role's (unique) name. */
  rolePrefix?: string;
}

/**
 * Creates a schema with a `tenants` table, scoped tables and an application role with the usual
 * grants; compliant unless `bare`. Each call gets its own schema and role, so tests do not interfere.
 */
export async function fixture(
  client: pg.Client,
  createRole: (prefix: string, attrs?: string) => Promise<string>,
  options: FixtureOptions = {},
): Promise<Fixture> {
  const schema = options.schema ?? `s_${randomBytes(3).toString('hex')}`;
  const tables = options.tables ?? ['notes'];
  const app = await createRole(options.rolePrefix ?? 'app');
  const q = (name: string) => qualified(schema, name);
  const sql: string[] = [
    `CREATE SCHEMA ${ident(schema)}`,
    `CREATE TABLE ${q('tenants')} (id integer PRIMARY KEY, name text NOT NULL)`,
    `GRANT USAGE ON SCHEMA ${ident(schema)} TO ${ident(app)}`,
    `GRANT SELECT ON ${q('tenants')} TO ${ident(app)}`,
  ];
  for (const t of tables) {
    sql.push(
      `CREATE TABLE ${q(t)} (id integer NOT NULL, tenant_id integer NOT NULL REFERENCES ${q('tenants')} (id), body text,
         PRIMARY KEY (tenant_id, id))`,
      `GRANT SELECT, INSERT, UPDATE, DELETE ON ${q(t)} TO ${ident(app)}`,
    );
  }
  if (!options.bare) {
    sql.push(...secure(q('tenants'), app, 'id'));
    for (const t of tables) sql.push(...secure(q(t), app));
  }
  await client.query(sql.join(';\n'));
  return {
    schema,
    app,
    q,
    manifest: (extra = {}) =>
      parseManifest({
        schema,
        tenant: { table: 'tenants', key: 'id', column: 'tenant_id', setting: SETTING },
        roles: { app: [app] },
        tables: Object.fromEntries(tables.map((t) => [t, null])),
        ...extra,
      }),
  };
}

/** ENABLE + FORCE + the generated tenant policy (FOR ALL, USING and WITH CHECK) on one table. */
export function secure(table: string, app: string, column = 'tenant_id'): string[] {
  return [
    `ALTER TABLE ${table} ENABLE ROW LEVEL SECURITY`,
    `ALTER TABLE ${table} FORCE ROW LEVEL SECURITY`,
    `CREATE POLICY tenant_isolation ON ${table} AS PERMISSIVE FOR ALL TO ${ident(app)} USING (${predicate(column)}) WITH CHECK (${predicate(column)})`,
  ];
}

export interface Found {
  severity: string;
  table: string | null;
  object: string | null;
  message: string;
  samples: unknown[];
}

/** Runs one check and returns its findings (severity, table, object, message, samples). */
export async function check(url: string, manifest: Manifest, id: string): Promise<Found[]> {
  const result = await runAudit({ databaseUrl: url, manifest, only: [id], concurrency: 1 });
  return result.findings.map((f) => {
    if (f.check !== id) throw new Error(`finding of ${f.check} while only ${id} ran`);
    return { severity: f.severity, table: f.table, object: f.object, message: f.message, samples: f.samples };
  });
}

/** Severity + table + object, sorted: what most assertions compare. */
export async function brief(url: string, manifest: Manifest, id: string): Promise<string[]> {
  return (await check(url, manifest, id)).map((f) => `${f.severity} ${f.table ?? '-'} ${f.object ?? '-'}`).sort();
}
