// The story, step by step, on any database: load the sample CRM, then each real command's core.
import { remediesText } from '../migrate/remedies.js';
import { copyFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { connect } from '../db/connection.js';
import { loadManifest, type Manifest } from '../config/manifest.js';
import { ident } from '../db/quote.js';
import { loadSampleCrm, SAMPLE_MANIFEST } from '../sample/sample-crm.js';
import { loadSampleSaas, saasManifestText, SAAS_HAND_FIXES } from '../sample/sample-saas.js';
import { parseManifestText } from '../config/manifest.js';
import { generateMigrations, runMigrate, type Refusal } from '../migrate/index.js';
import { runBackfill } from '../backfill/backfill-runner.js';
import { runDedupe } from '../dedupe/dedupe-runner.js';
import { applyPolicies } from '../policies/apply.js';
import { verifyIsolation, type VerifyResult } from '../verify/verify.js';
import { runAudit } from '../audit/runner.js';
import type { AuditResult } from '../audit/types.js';
import { packagePath } from '../paths.js';
import { readOverview, type Overview } from './overview.js';
import type { Logger } from '../logger.js';
import { silentLogger } from '../logger.js';

export interface StoryStep {
  name: string;
  ms: number;
  /** One line saying what the step found or did. */
  summary: string;
  /** The exit code the same CLI command would have returned. */
  exitCode: number;
  /** Detail lines worth showing (refusals, findings). */
  details?: string[];
}

export interface StoryHooks {
  /** Called when a step starts and when it ends. */
  onStep?: (step: { name: string; phase: 'start' | 'end'; result?: StoryStep }) => void;
  onOverview?: (label: string, overview: Overview) => void;
  logger?: Logger;
}

export interface StoryOptions extends StoryHooks {
  /** An empty database to load the sample CRM into. */
  databaseUrl: string;
  /** A scratch directory for generated migrations and policy files. */
  workDir: string;
  /** The manifest (default: the sample's own); tests pass one with their own role names. */
  manifest?: Manifest;
  /** Which sample: the CRM of the report (default), or the SaaS fixture (uuid keys, soft deletes, shared rows, polymorphic pairs, partitions). */
  sample?: 'crm' | 'saas';
}

export interface StorySummary {
  tables: number;
  findingsBefore: { error: number; warning: number; info: number };
  findingsAfter: { error: number; warning: number; info: number };
  tablesWithTenantColumnBefore: number;
  tablesWithTenantColumnAfter: number;
  nullTenantsBefore: number;
  nullTenantsAfter: number;
  migrateRefusals: Refusal[];
  migrationsApplied: number;
  rowsBackfilled: number;
  referencesDetached: number;
  rowsArchived: number;
  rowsRepointed: number;
  policyTablesApplied: number;
  rolesCreated: string[];
  probesPassed: number;
  probesFailed: number;
  backfillRunId: string | null;
  dedupeRunId: string | null;
}

export interface StoryResult {
  steps: StoryStep[];
  before: Overview;
  after: Overview;
  auditBefore: AuditResult;
  auditAfter: AuditResult;
  verify: VerifyResult;
  summary: StorySummary;
}

async function step<T>(
  steps: StoryStep[],
  hooks: StoryHooks,
  name: string,
  fn: () => Promise<{ value: T; summary: string; exitCode?: number; details?: string[] }>,
): Promise<T> {
  hooks.onStep?.({ name, phase: 'start' });
  const started = Date.now();
  const { value, summary, exitCode, details } = await fn();
  const result: StoryStep = { name, ms: Date.now() - started, summary, exitCode: exitCode ?? 0, ...(details ? { details } : {}) };
  steps.push(result);
  hooks.onStep?.({ name, phase: 'end', result });
  return value;
}

function auditLine(r: AuditResult): string {
  const s = r.summary;
  return `${s.error} errors, ${s.warning} warnings, ${s.info} info (${s.scannedTables} tables scanned, ${s.skippedScans} scans proven unnecessary)`;
}

/** Findings per check, most first: what the DBA should look at. */
function topChecks(r: AuditResult): string[] {
  const byCheck = new Map<string, { severity: string; n: number }>();
  for (const f of r.findings) {
    if (f.severity === 'info') continue;
    const e = byCheck.get(f.check) ?? { severity: f.severity, n: 0 };
    e.n++;
    byCheck.set(f.check, e);
  }
  return [...byCheck].map(([check, { severity, n }]) => `${severity.padEnd(7)} ${check}: ${n}`);
}

/** Phases in order, a run of one phase counted once: `expand → index → validate → composite ×44 → views`. */
function phaseList(phases: string[], sep = ' → '): string {
  const runs: { phase: string; n: number }[] = [];
  for (const p of phases) {
    const last = runs[runs.length - 1];
    if (last?.phase === p) last.n++;
    else runs.push({ phase: p, n: 1 });
  }
  return runs.map((r) => (r.n > 1 ? `${r.phase} ×${r.n}` : r.phase)).join(sep);
}

const nullCount = (o: Overview): number => o.tables.reduce((n, t) => n + (t.hasTenantColumn ? t.nullTenants : 0), 0);

/**
 * Runs the story on `databaseUrl`: sample CRM → generate → migrate (refused) → backfill →
 * dedupe → migrate → policies apply → verify, each step the real command's core function.
 */
export async function runStory(options: StoryOptions): Promise<StoryResult> {
  const steps: StoryStep[] = [];
  const saas = options.sample === 'saas';
  const usesSampleManifest = !options.manifest && !saas;
  const manifest = options.manifest ?? (saas ? parseManifestText(await saasManifestText(), 'sample/saas-tenancy.yaml') : await loadManifest(SAMPLE_MANIFEST));
  const { databaseUrl } = options;
  const logger = options.logger ?? silentLogger;
  const migrationsDir = path.join(options.workDir, 'migrations');
  const policiesDir = path.join(options.workDir, 'policies');
  await mkdir(migrationsDir, { recursive: true });
  await mkdir(policiesDir, { recursive: true });

  // Through connect(): an error listener (a server stopped under it must not crash the process) and
  // Ctrl-C cancels and closes it with the rest.
  const client = await connect({ databaseUrl, applicationName: 'crm-tenancy demo' });
  try {
    if (saas) {
      await step(steps, options, 'load the SaaS sample', async () => {
        const r = await loadSampleSaas(client);
        // The application's role and grants, as its own migrations would have made them.
        for (const role of manifest.roles.app) {
          const exists = await client.query(`SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1`, [role]);
          if (exists.rowCount === 0) await client.query(`CREATE ROLE ${ident(role)} NOLOGIN`);
          await client.query(`GRANT USAGE ON SCHEMA public TO ${ident(role)}`);
          await client.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ${ident(role)}`);
        }
        return { value: r, summary: `${r.tables} tables: 3 organizations with soft deletes, shared rows, polymorphic pairs, a partitioned event table` };
      });
    } else {
      await step(steps, options, 'load the sample CRM', async () => {
        const r = await loadSampleCrm(client);
        return { value: r, summary: `${r.rows} rows in the report's state` };
      });
    }
    const before = await step(steps, options, 'look at it', async () => {
      const overview = await readOverview(client, manifest);
      const missing = overview.tables.filter((t) => !t.hasTenantColumn).length;
      return {
        value: overview,
        summary: `${overview.tenants.length} tenants, ${overview.tables.length} scoped tables, ${missing} without ${manifest.tenant.column}, ${nullCount(overview)} NULL tenants`,
      };
    });
    options.onOverview?.('before', before);

    const auditBefore = await step(steps, options, 'audit', async () => {
      const r = await runAudit({ databaseUrl, manifest });
      return { value: r, exitCode: r.exitCode, summary: auditLine(r), details: topChecks(r) };
    });

    if (usesSampleManifest) {
      // The DBA's hand-edited users policy (the login lookup): generate must leave it alone.
      await copyFile(packagePath('policies', 'users.sql'), path.join(policiesDir, 'users.sql'));
    }
    await step(steps, options, 'generate', async () => {
      const r = await generateMigrations({ databaseUrl, manifest, migrationsDir, policiesDir });
      const written = r.policyFiles.filter((f) => f.status === 'written').length;
      const kept = r.policyFiles.filter((f) => f.status === 'skipped-edited').map((f) => f.table);
      return {
        value: r,
        summary:
          `${r.files.length} migration files (${phaseList(r.files.map((f) => f.phase))}), ${written} policy files` +
          (kept.length ? `; kept the hand-edited ${kept.join(', ')}` : ''),
      };
    });

    const refused = await step(steps, options, 'migrate up (first try)', async () => {
      const r = await runMigrate({ databaseUrl, manifest, migrationsDir, direction: 'up', logger });
      return {
        value: r,
        exitCode: r.exitCode,
        summary: `applied ${phaseList(r.applied.map((a) => a.phase ?? a.name), ', ') || 'nothing'}; ` +
          (r.refused.length ? `refused to validate: ${r.refused.length} problems` : 'complete'),
        details: r.refused.map((x) => `${x.table}: ${x.count} ${x.problem} → ${remediesText(x.remedies)}`),
      };
    });

    const backfill = await step(steps, options, 'backfill --detach-cross-tenant', async () => {
      const r = await runBackfill({ databaseUrl, manifest, detachCrossTenant: true, logger });
      const filled = r.tables.reduce((n, t) => n + t.filled, 0);
      const detached = r.tables.reduce((n, t) => n + t.detached, 0);
      return {
        value: { ...r, filled, detached },
        exitCode: r.ok ? 0 : 1,
        summary: `filled ${filled} tenants in ${r.tables.filter((t) => t.filled > 0).length} tables, detached ${detached} cross-company references, ${r.orphans.length} orphans, ${r.conflicts.length} conflicts (run ${r.runId})`,
      };
    });

    const dedupe = await step(steps, options, 'dedupe', async () => {
      const r = await runDedupe({ databaseUrl, manifest, logger });
      return {
        value: r,
        exitCode: r.ok ? 0 : 1,
        summary: `${r.groups.length} duplicate groups: removed and archived ${r.removed} rows, re-pointed ${r.repointed} references (run ${r.runId})`,
      };
    });

    if (saas) {
      // What the tool reported and refused to guess: a person decides, here as plain SQL.
      await step(steps, options, 'fix by hand what only a person can decide', async () => {
        for (const fix of SAAS_HAND_FIXES) await client.query(fix.sql);
        return { value: SAAS_HAND_FIXES.length, summary: `${SAAS_HAND_FIXES.length} fixes`, details: SAAS_HAND_FIXES.map((f) => f.why) };
      });
    }

    const second = await step(steps, options, 'migrate up', async () => {
      const r = await runMigrate({ databaseUrl, manifest, migrationsDir, direction: 'up', logger });
      return {
        value: r,
        exitCode: r.exitCode,
        summary: `applied ${phaseList(r.applied.map((a) => a.phase ?? a.name), ', ') || 'nothing'}` + (r.refused.length ? `; refused: ${r.refused.length}` : '; every tenant column NOT NULL and validated'),
        details: r.refused.map((x) => `${x.table}: ${x.count} ${x.problem} → ${remediesText(x.remedies)}`),
      };
    });

    const policies = await step(steps, options, 'policies apply', async () => {
      const r = await applyPolicies({ databaseUrl, manifest, policiesDir, logger });
      const applied = r.tables.filter((t) => t.status === 'applied').length;
      return {
        value: r,
        exitCode: r.ok ? 0 : 1,
        summary: `row-level security on ${applied} tables` + (r.rolesCreated.length ? `; created roles ${r.rolesCreated.map((x) => x.role).join(', ')} (NOLOGIN)` : ''),
      };
    });

    const verify = await step(steps, options, 'verify', async () => {
      const r = await verifyIsolation({ databaseUrl, manifest, logger });
      return {
        value: r,
        exitCode: r.ok ? 0 : 1,
        summary: `${r.passed} isolation probes passed, ${r.failed} failed, as ${r.roles.join(', ')} with tenants ${r.tenants.a} and ${r.tenants.b}`,
        details: r.failures.map((f) => `${f.role} ${f.table} ${f.probe}: ${f.detail}`),
      };
    });

    const auditAfter = await step(steps, options, 'audit (after)', async () => {
      const r = await runAudit({ databaseUrl, manifest });
      return { value: r, exitCode: r.exitCode, summary: auditLine(r), details: topChecks(r) };
    });

    const after = await readOverview(client, manifest);
    options.onOverview?.('after', after);
    const counts = (r: AuditResult) => ({ error: r.summary.error, warning: r.summary.warning, info: r.summary.info });
    const summary: StorySummary = {
      tables: manifest.tables.length,
      findingsBefore: counts(auditBefore),
      findingsAfter: counts(auditAfter),
      tablesWithTenantColumnBefore: before.tables.filter((t) => t.hasTenantColumn).length,
      tablesWithTenantColumnAfter: after.tables.filter((t) => t.hasTenantColumn).length,
      nullTenantsBefore: nullCount(before),
      nullTenantsAfter: nullCount(after),
      migrateRefusals: refused.refused,
      migrationsApplied: refused.applied.length + second.applied.length,
      rowsBackfilled: backfill.filled,
      referencesDetached: backfill.detached,
      rowsArchived: dedupe.removed,
      rowsRepointed: dedupe.repointed,
      policyTablesApplied: policies.tables.filter((t) => t.status === 'applied').length,
      rolesCreated: policies.rolesCreated.map((r) => r.role),
      probesPassed: verify.passed,
      probesFailed: verify.failed,
      backfillRunId: backfill.runId,
      dedupeRunId: dedupe.runId,
    };
    return { steps, before, after, auditBefore, auditAfter, verify, summary };
  } finally {
    await client.end().catch(() => {});
  }
}
