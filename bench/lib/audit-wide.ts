// A wide schema for the audit benchmark's catalog-only run: one tenant table and N-1 scoped tables with keys, FKs, indexes and some RLS.
import type pg from 'pg';
import { ident, literal, qualified } from '../../src/db/quote.js';

/** Table name of the i-th scoped table (1-based). */
export const wideTable = (i: number): string => `t${String(i).padStart(4, '0')}`;

/**
 * Creates `schema` with `tenants` and `count` scoped tables t0001…, built set-based by DO blocks of
 * 100 tables each (one transaction per block keeps the lock table small). Every table: (tenant_id,
 * id) primary key, tenant FK, a name index; every other table a composite FK to the previous one,
 * every third a single-column FK (not tenant-scoped) and a global UNIQUE, every other table RLS
 * (forced) with a tenant policy for `appRole`, every tenth RLS without policy. A realistic mix of
 * passing and failing catalog checks.
 */
export async function createWideSchema(client: pg.ClientBase, schema: string, count: number, appRole: string): Promise<void> {
  const s = ident(schema);
  await client.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
  await client.query(`CREATE SCHEMA ${s}`);
  await client.query(`CREATE TABLE ${qualified(schema, 'tenants')} (id integer PRIMARY KEY, name text NOT NULL)`);
  const setting = `(SELECT nullif(current_setting('app.tenant_id', true), '')::integer)`;
  for (let from = 1; from <= count; from += 100) {
    const to = Math.min(count, from + 99);
    await client.query(`
      DO $bench$
      DECLARE
        s text := ${literal(schema)};
        t text;
        prev text;
      BEGIN
        FOR i IN ${from}..${to} LOOP
          t := 't' || lpad(i::text, 4, '0');
          prev := 't' || lpad((i - 1)::text, 4, '0');
          EXECUTE format('CREATE TABLE %I.%I (id bigint NOT NULL, tenant_id integer NOT NULL REFERENCES %I.tenants (id), parent_id bigint, other_id bigint, code text, name text, PRIMARY KEY (tenant_id, id))', s, t, s);
          EXECUTE format('CREATE INDEX ON %I.%I (tenant_id, name)', s, t);
          IF i > 1 AND i % 2 = 0 THEN
            EXECUTE format('ALTER TABLE %I.%I ADD FOREIGN KEY (tenant_id, parent_id) REFERENCES %I.%I (tenant_id, id)', s, t, s, prev);
          END IF;
          IF i % 3 = 0 THEN
            EXECUTE format('ALTER TABLE %I.%I ADD UNIQUE (code)', s, t);
            EXECUTE format('ALTER TABLE %I.%I ADD UNIQUE (id)', s, prev);
            EXECUTE format('ALTER TABLE %I.%I ADD FOREIGN KEY (other_id) REFERENCES %I.%I (id)', s, t, s, prev);
          END IF;
          IF i % 2 = 0 THEN
            EXECUTE format('ALTER TABLE %I.%I ENABLE ROW LEVEL SECURITY', s, t);
            EXECUTE format('ALTER TABLE %I.%I FORCE ROW LEVEL SECURITY', s, t);
            EXECUTE format('CREATE POLICY tenant_isolation ON %I.%I FOR ALL TO %I USING (tenant_id = ${setting.replaceAll("'", "''")}) WITH CHECK (tenant_id = ${setting.replaceAll("'", "''")})', s, t, ${literal(appRole)});
          ELSIF i % 10 = 5 THEN
            EXECUTE format('ALTER TABLE %I.%I ENABLE ROW LEVEL SECURITY', s, t);
          END IF;
        END LOOP;
      END
      $bench$`);
  }
  await client.query(`ANALYZE ${qualified(schema, 'tenants')}`);
}

/** The manifest (raw, as a YAML/JSON document) describing the wide schema. */
export function wideManifestDocument(schema: string, count: number, appRole: string, stateSchema: string): Record<string, unknown> {
  const tables: Record<string, object> = {};
  for (let i = 1; i <= count; i++) tables[wideTable(i)] = {};
  return {
    schema,
    state_schema: stateSchema,
    tenant: { table: 'tenants', key: 'id', column: 'tenant_id', setting: 'app.tenant_id', composite_keys: true },
    roles: { app: [appRole] },
    tables,
  };
}
