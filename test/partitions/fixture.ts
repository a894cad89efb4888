// A small schema with RANGE, LIST and HASH partitioned scoped tables (no primary keys), its manifest and policy files.
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import { resolveLiveContext } from '../../src/config/live-context.js';
import { parseManifestText, type Manifest } from '../../src/config/manifest.js';
import { ident } from '../../src/db/quote.js';
import { writePolicyFiles } from '../../src/policies/policy-files.js';
import type { TestDatabase } from '../support/database.js';

export const ORG_A = '00000000-0000-0000-0000-00000000000a';
export const ORG_B = '00000000-0000-0000-0000-00000000000b';
export const SETTING = 'app.current_org';

export interface PartitionedFixture {
  schema: string;
  app: string;
  manifest: Manifest;
  manifestFile: string;
  policiesDir: string;
  /** `schema.name`, quoted. */
  q(name: string): string;
  /** Rows of `relation` the app role sees with tenant `org` set (count only). */
  visibleTo(org: string, relation: string): Promise<string[]>;
}

/** The manifest's YAML text for the fixture (roles are cluster-wide: the app role is per test run). */
export function fixtureManifestText(schema: string, app: string, options: { partitionTrigger?: boolean; stateSchema?: string } = {}): string {
  return [
    `schema: ${schema}`,
    ...(options.stateSchema ? [`state_schema: ${options.stateSchema}`] : []),
    'tenant:',
    '  table: orgs',
    '  key: id',
    '  column: org_id',
    `  setting: ${SETTING}`,
    ...(options.partitionTrigger === undefined ? [] : [`  partition_trigger: ${options.partitionTrigger}`]),
    'roles:',
    `  app: [${JSON.stringify(app)}]`,
    'tables:',
    '  events: {}',
    '  tickets: {}',
    '  shards: {}',
    '',
  ].join('\n');
}

/**
 * Creates `schema` with orgs (A and B), events (RANGE by month, no primary key), tickets (LIST by
 * region) and shards (HASH, 2 partitions), one row per tenant in each partition, an app role,
 * the manifest and the generated policy files. Nothing is applied yet.
 */
export async function createPartitionedFixture(
  db: TestDatabase,
  schema: string,
  options: { partitionTrigger?: boolean; stateSchema?: string } = {},
): Promise<PartitionedFixture> {
  const c = db.client;
  const s = ident(schema);
  const q = (name: string) => `${s}.${ident(name)}`;
  await c.query(`
    CREATE SCHEMA ${s};
    CREATE TABLE ${q('orgs')} (id uuid PRIMARY KEY, name text NOT NULL);
    INSERT INTO ${q('orgs')} VALUES ('${ORG_A}', 'A'), ('${ORG_B}', 'B');
    CREATE TABLE ${q('events')} (org_id uuid NOT NULL REFERENCES ${q('orgs')} (id), name text NOT NULL, created_at timestamptz NOT NULL)
      PARTITION BY RANGE (created_at);
    CREATE INDEX ON ${q('events')} (org_id, created_at);
    CREATE TABLE ${q('events_2026_01')} PARTITION OF ${q('events')} FOR VALUES FROM ('2026-01-01') TO ('2026-02-01');
    CREATE TABLE ${q('tickets')} (id bigint NOT NULL, org_id uuid NOT NULL REFERENCES ${q('orgs')} (id), region text NOT NULL)
      PARTITION BY LIST (region);
    CREATE INDEX ON ${q('tickets')} (org_id);
    CREATE TABLE ${q('tickets_eu')} PARTITION OF ${q('tickets')} FOR VALUES IN ('eu');
    CREATE TABLE ${q('shards')} (id integer NOT NULL, org_id uuid NOT NULL REFERENCES ${q('orgs')} (id))
      PARTITION BY HASH (id);
    CREATE INDEX ON ${q('shards')} (org_id);
    CREATE TABLE ${q('shards_0')} PARTITION OF ${q('shards')} FOR VALUES WITH (MODULUS 2, REMAINDER 0);
    CREATE TABLE ${q('shards_1')} PARTITION OF ${q('shards')} FOR VALUES WITH (MODULUS 2, REMAINDER 1);
    INSERT INTO ${q('events')} VALUES ('${ORG_A}', 'a', '2026-01-05'), ('${ORG_B}', 'b', '2026-01-06');
    INSERT INTO ${q('tickets')} VALUES (1, '${ORG_A}', 'eu'), (2, '${ORG_B}', 'eu');
    INSERT INTO ${q('shards')} SELECT i, CASE WHEN i % 2 = 0 THEN '${ORG_A}'::uuid ELSE '${ORG_B}'::uuid END FROM generate_series(1, 8) i;
  `);
  const app = await db.createRole('app');
  const text = fixtureManifestText(schema, app, options);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'crmt-partitions-'));
  const manifestFile = path.join(dir, 'tenancy.yaml');
  await writeFile(manifestFile, text, 'utf8');
  const manifest = parseManifestText(text, manifestFile);
  const policiesDir = path.join(dir, 'policies');
  await writePolicyFiles({ live: await resolveLiveContext(c, manifest), dir: policiesDir });
  const visibleTo = async (org: string, relation: string): Promise<string[]> => {
    await c.query('BEGIN');
    try {
      await c.query(`SET LOCAL ROLE ${ident(app)}`);
      await c.query(`SELECT set_config($1, $2, true)`, [SETTING, org]);
      const { rows } = await c.query<{ org_id: string }>(`SELECT org_id::text FROM ${relation} ORDER BY 1`);
      return rows.map((r) => r.org_id);
    } finally {
      await c.query('ROLLBACK');
    }
  };
  return { schema, app, manifest, manifestFile, policiesDir, q, visibleTo };
}

/** RLS flags and policies (name, command, roles, expressions) of a relation, comparable across relations. */
export async function policyShape(c: pg.ClientBase, relation: string): Promise<unknown> {
  const flags = await c.query(`SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = $1::regclass`, [relation]);
  const { rows } = await c.query(
    `SELECT polname, polcmd, polpermissive, polroles::regrole[]::text[] AS roles,
            pg_get_expr(polqual, polrelid) AS qual, pg_get_expr(polwithcheck, polrelid) AS withcheck
       FROM pg_policy WHERE polrelid = $1::regclass ORDER BY polname`,
    [relation],
  );
  return { ...flags.rows[0], policies: rows };
}
