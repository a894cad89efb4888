// A small rolled-out schema for the probe tests: two tenants, composite keys, generated policies, and empty tables whose rows the probes must make.
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { resolveLiveContext } from '../../src/config/live-context.js';
import { parseManifestText, type Manifest } from '../../src/config/manifest.js';
import { applyPolicies } from '../../src/policies/apply.js';
import { writePolicyFiles } from '../../src/policies/policy-files.js';
import type { TestDatabase } from '../support/database.js';

export interface MiniRollout {
  manifest: Manifest;
  manifestFile: string;
  /** The manifest as written (edit a copy and write it with writeManifest to change it). */
  raw: Record<string, unknown>;
  app: string;
  /** The connection's URL (superuser) for the CLI. */
  url: string;
}

/** The policies' own setting read, for tests that plant a careless extra policy. */
export const CURRENT_ORG = `nullif(pg_catalog.current_setting('app.org', true), '')::integer`;

/**
 * orgs (tenant 2 has more rows, so verify picks A = 2, B = 1), projects and tasks with rows of
 * both tenants, and threads → comments: empty, NOT NULL composite references, a made-up value
 * needed for every NOT NULL column (enum, date, jsonb, a globally unique code).
 */
export async function miniRollout(db: TestDatabase): Promise<MiniRollout> {
  const c = db.client;
  const app = await db.createRole('mini_app');
  await c.query(`
    CREATE TYPE task_status AS ENUM ('open', 'done');
    CREATE TABLE orgs (id integer PRIMARY KEY, name text NOT NULL);
    INSERT INTO orgs VALUES (1, 'one'), (2, 'two'), (3, 'three');
    CREATE TABLE projects (id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY, org_id integer NOT NULL REFERENCES orgs,
                           name text NOT NULL, UNIQUE (org_id, id));
    CREATE INDEX ON projects (org_id);
    INSERT INTO projects (org_id, name) VALUES (1, 'p1'), (2, 'p2'), (2, 'p3');
    CREATE TABLE tasks (id bigserial PRIMARY KEY, org_id integer NOT NULL REFERENCES orgs, project_id integer NOT NULL,
                        title text NOT NULL, status task_status NOT NULL DEFAULT 'open',
                        UNIQUE (org_id, id), FOREIGN KEY (org_id, project_id) REFERENCES projects (org_id, id));
    CREATE INDEX ON tasks (org_id);
    INSERT INTO tasks (org_id, project_id, title) SELECT org_id, id, 'task of ' || name FROM projects;
    CREATE TABLE threads (id bigserial PRIMARY KEY, org_id integer NOT NULL REFERENCES orgs, task_id bigint NOT NULL,
                          code varchar(40) NOT NULL UNIQUE, status task_status NOT NULL, opened date NOT NULL, meta jsonb NOT NULL,
                          UNIQUE (org_id, id), FOREIGN KEY (org_id, task_id) REFERENCES tasks (org_id, id));
    CREATE INDEX ON threads (org_id);
    CREATE TABLE comments (id bigserial PRIMARY KEY, org_id integer NOT NULL REFERENCES orgs, thread_id bigint NOT NULL,
                           body text NOT NULL, FOREIGN KEY (org_id, thread_id) REFERENCES threads (org_id, id));
    CREATE INDEX ON comments (org_id);
  `);
  const raw = {
    schema: 'public',
    tenant: { table: 'orgs', key: 'id', column: 'org_id', setting: 'app.org', composite_keys: true },
    roles: { app: [app] },
    tables: { projects: null, tasks: null, threads: null, comments: null },
  };
  const dir = await mkdtemp(path.join(os.tmpdir(), 'crmt-verify-'));
  const manifestFile = path.join(dir, 'tenancy.yaml');
  const manifest = await writeManifest(manifestFile, raw);
  const policiesDir = path.join(dir, 'policies');
  await writePolicyFiles({ live: await resolveLiveContext(c, manifest), dir: policiesDir });
  const applied = await applyPolicies({ client: c, manifest, policiesDir });
  if (!applied.ok) throw new Error(`policies apply failed: ${JSON.stringify(applied.refusals)}`);
  return { manifest, manifestFile, raw, app, url: db.url };
}

/** Writes a manifest (JSON is YAML) and returns it parsed. */
export async function writeManifest(file: string, raw: Record<string, unknown>): Promise<Manifest> {
  const text = JSON.stringify(raw, null, 2);
  await writeFile(file, text, 'utf8');
  return parseManifestText(text, file);
}

/** [table, probe] of each failure: what the two-sided tests compare. */
export const failed = (result: { failures: { table: string; probe: string }[] }): [string, string][] =>
  result.failures.map((f) => [f.table, f.probe]);
