// The audit benchmark's database states: the sample CRM mid-rollout, then finished with the real rollout commands.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type pg from 'pg';
import { parseManifestText, type Manifest } from '../../src/config/manifest.js';
import { findColumn, findRelation, foreignKeys, readCatalog } from '../../src/db/catalog.js';
import { ident, qualified } from '../../src/db/quote.js';
import { generateMigrations, runMigrate } from '../../src/migrate/index.js';
import { runBackfill } from '../../src/backfill/backfill-runner.js';
import { runDedupe } from '../../src/dedupe/dedupe-runner.js';
import { applyPolicies } from '../../src/policies/apply.js';
import { SAMPLE_MANIFEST } from '../../src/sample/sample-crm.js';

/**
 * Mid-rollout: adds the tenant column (nullable, integer, no FK) to every scoped table lacking it
 * and fills it from the first parent along the manifest's backfill FKs that has one, with one plain
 * UPDATE … FROM per table — the planted NULLs and cross-tenant references stay. Then ANALYZE.
 * Returns the tables that got the column.
 */
export async function prepareMidRollout(client: pg.ClientBase, manifest: Manifest): Promise<string[]> {
  const { schema } = manifest;
  const col = manifest.tenant.column;
  const catalog = await readCatalog(client, [schema]);
  const added: string[] = [];
  for (const t of manifest.tables) {
    const rel = findRelation(catalog, schema, t.name);
    if (!rel || findColumn(rel, col)) continue;
    await client.query(`ALTER TABLE ${qualified(schema, t.name)} ADD COLUMN ${ident(col)} integer`);
    added.push(t.name);
  }
  for (const name of added) {
    const entry = manifest.tables.find((t) => t.name === name)!;
    const rel = findRelation(catalog, schema, name)!;
    for (const fkCol of entry.backfill) {
      const fk = foreignKeys(rel).find((f) => f.columns.length === 1 && f.columns[0] === fkCol);
      if (!fk?.references) continue;
      const parent = findRelation(catalog, fk.references.schema, fk.references.table);
      if (!parent || (!findColumn(parent, col) && !added.includes(parent.name))) continue;
      await client.query(
        `UPDATE ${qualified(schema, name)} c SET ${ident(col)} = p.${ident(col)}
           FROM ${qualified(fk.references.schema, fk.references.table)} p
          WHERE p.${ident(fk.references.columns[0])} = c.${ident(fkCol)}`,
      );
      break;
    }
  }
  await client.query('ANALYZE');
  return added;
}

/** The repository's tenancy.yaml with the app and bypass roles renamed (roles are cluster-wide: the bench must not touch crm_app). */
export async function benchManifest(dir: string, appRole: string, bypassRole: string): Promise<{ manifest: Manifest; file: string }> {
  const text = await readFile(SAMPLE_MANIFEST, 'utf8');
  const renamed = text.replace(/app: \[crm_app\]/, `app: [${appRole}]`).replace(/^(\s+)crm_support:/m, `$1${bypassRole}:`);
  if (renamed.includes('crm_app') || renamed.includes('crm_support')) throw new Error('tenancy.yaml changed shape: cannot rename its roles');
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, 'tenancy.yaml');
  await writeFile(file, renamed);
  return { manifest: parseManifestText(renamed, file), file };
}

export interface RolloutStep {
  name: string;
  ms: number;
  summary: string;
}

/**
 * Finishes the rollout with the real commands' core functions: generate → migrate up (validation
 * refused while NULLs remain) → backfill --detach-cross-tenant → dedupe → migrate up → policies
 * apply. Throws when the end state is not reached.
 */
export async function finishRollout(databaseUrl: string, manifest: Manifest, workDir: string, onStep?: (s: RolloutStep) => void): Promise<RolloutStep[]> {
  const migrationsDir = path.join(workDir, 'migrations');
  const policiesDir = path.join(workDir, 'policies');
  await mkdir(migrationsDir, { recursive: true });
  await mkdir(policiesDir, { recursive: true });
  const steps: RolloutStep[] = [];
  const step = async (name: string, fn: () => Promise<string>) => {
    const t0 = Date.now();
    const summary = await fn();
    const s = { name, ms: Date.now() - t0, summary };
    steps.push(s);
    onStep?.(s);
  };
  await step('generate', async () => {
    const r = await generateMigrations({ databaseUrl, manifest, migrationsDir, policiesDir });
    return `${r.files.length} migration files`;
  });
  await step('migrate up (first)', async () => {
    const r = await runMigrate({ databaseUrl, manifest, migrationsDir, direction: 'up' });
    return `applied ${r.applied.length}, refused ${r.refused.length}`;
  });
  await step('backfill --detach-cross-tenant', async () => {
    const r = await runBackfill({ databaseUrl, manifest, detachCrossTenant: true });
    return `filled ${r.tables.reduce((n, t) => n + t.filled, 0)}, detached ${r.tables.reduce((n, t) => n + t.detached, 0)}, orphans ${r.orphans.length}`;
  });
  await step('dedupe', async () => {
    const r = await runDedupe({ databaseUrl, manifest });
    return `${r.groups.length} groups, removed ${r.removed}`;
  });
  await step('migrate up', async () => {
    const r = await runMigrate({ databaseUrl, manifest, migrationsDir, direction: 'up' });
    if (r.refused.length > 0) throw new Error(`migrate still refused: ${r.refused.map((x) => `${x.table}: ${x.count} ${x.problem}`).join('; ')}`);
    return `applied ${r.applied.length}`;
  });
  await step('policies apply', async () => {
    const r = await applyPolicies({ databaseUrl, manifest, policiesDir });
    if (!r.ok) throw new Error(`policies apply failed: ${JSON.stringify(r.refusals ?? r.tables.filter((t) => t.status === 'failed'))}`);
    return `${r.tables.filter((t) => t.status === 'applied').length} tables, roles ${r.rolesCreated.map((x) => x.role).join(', ')}`;
  });
  return steps;
}
