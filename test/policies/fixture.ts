// Shared setup for the policy / verify tests: the sample CRM after the rollout, a manifest with this run's unique roles.
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import { parseManifestText, type Manifest } from '../../src/config/manifest.js';
import { resolveLiveContext } from '../../src/config/live-context.js';
import { ident } from '../../src/db/quote.js';
import { writePolicyFiles } from '../../src/policies/policy-files.js';
import { SAMPLE_MANIFEST } from '../../src/sample/sample-crm.js';
import type { TestDatabase } from '../support/database.js';
import { prepareSampleAfterRollout } from './post-rollout.js';

/** The repository's tenancy.yaml with the roles renamed (roles are cluster-wide: tests need unique names). */
export async function sampleManifestText(roles: { app: string; support: string }, compositeKeys = true): Promise<string> {
  const text = await readFile(SAMPLE_MANIFEST, 'utf8');
  return text
    .replace('app: [crm_app]', `app: [${JSON.stringify(roles.app)}]`)
    .replace('crm_support: support console', `${JSON.stringify(roles.support)}: support console`)
    .replace('composite_keys: true', `composite_keys: ${compositeKeys}`);
}

export interface RolledOut {
  manifest: Manifest;
  /** A temporary directory holding tenancy.yaml and policies/ (generated from this database). */
  dir: string;
  manifestFile: string;
  policiesDir: string;
  app: string;
  support: string;
}

/**
 * Loads nothing (the database has the sample already): brings it to the post-rollout state,
 * creates unique app / support roles, writes the manifest and the policy files to a temp dir.
 */
export async function rollOut(db: TestDatabase, options: { composite?: boolean; compositeKeys?: boolean } = {}): Promise<RolledOut> {
  const app = await db.createRole('app');
  const support = await db.createRole('support');
  const text = await sampleManifestText({ app, support }, options.compositeKeys ?? options.composite ?? true);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'crmt-policies-'));
  const manifestFile = path.join(dir, 'tenancy.yaml');
  await writeFile(manifestFile, text, 'utf8');
  const manifest = parseManifestText(text, manifestFile);
  await prepareSampleAfterRollout(db.client, manifest, { composite: options.composite ?? true });
  const policiesDir = path.join(dir, 'policies');
  await writePolicyFiles({ live: await resolveLiveContext(db.client, manifest), dir: policiesDir });
  return { manifest, dir, manifestFile, policiesDir, app, support };
}

/** Drops roles that the code under test created (NOLOGIN) in this database's cluster. */
export async function dropCreatedRoles(client: pg.ClientBase, roles: string[]): Promise<void> {
  for (const role of roles) {
    const exists = await client.query(`SELECT 1 FROM pg_roles WHERE rolname = $1`, [role]);
    if (exists.rowCount === 0) continue;
    await client.query(`DROP OWNED BY ${ident(role)}`);
    await client.query(`DROP ROLE ${ident(role)}`);
  }
}

/** Row count and an md5 of every row of every table in the schema: proves nothing changed. */
export async function dataChecksum(client: pg.ClientBase, schema: string): Promise<Record<string, string>> {
  const { rows } = await client.query<{ relname: string }>(
    `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relkind = 'r' ORDER BY 1`,
    [schema],
  );
  const out: Record<string, string> = {};
  for (const { relname } of rows) {
    const t = `${ident(schema)}.${ident(relname)}`;
    const r = await client.query(
      `SELECT count(*) AS n, coalesce(md5(string_agg(x::text, '|' ORDER BY x::text)), '') AS h FROM ${t} x`,
    );
    out[relname] = `${r.rows[0].n}:${r.rows[0].h}`;
  }
  return out;
}
