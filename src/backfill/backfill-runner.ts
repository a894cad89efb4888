// runBackfill: derives NULL tenants along FK columns in short keyset batches; resumable, recorded, undoable.
import type pg from 'pg';
import { resolveLiveContext, tableSuggestion } from '../config/live-context.js';
import { connect, withClient } from '../db/connection.js';
import { ident, qualified } from '../db/quote.js';
import { TenancyError, isPgServerError } from '../errors.js';
import { silentLogger } from '../logger.js';
import { acquireDataLock } from '../state/locks.js';
import { findResumableRun, withRun } from '../state/runs.js';
import { ensureStateSchema } from '../state/state-schema.js';
import { buildReport, summaryOf } from './backfill-report.js';
import type { BackfillPlan } from './backfill-plan.js';
import { planBackfill } from './backfill-preflight.js';
import { dryRunBackfill } from './backfill-dry-run.js';
import {
  DEFAULT_BATCH_SIZE,
  lockTimeoutOf,
  noHealthPauses,
  type BackfillOptions,
  type BackfillResult,
  type CrossTenantReference,
  type RunContext,
} from './backfill-types.js';
import { clampBatch } from './batch-walker.js';
import { crossTenantFor } from './cross-tenant.js';
import { fillGroup } from './fill-group.js';
import { assignedCount, readProgress } from './progress-store.js';

export {
  DEFAULT_BATCH_SIZE,
  DEFAULT_LOCK_TIMEOUT_MS,
  DEFAULT_TARGET_BATCH_MS,
  type AssignedOrphan,
  type BackfillOptions,
  type BackfillResult,
  type BackfillTableResult,
  type BatchEvent,
  type CrossTenantReference,
  type HealthPauses,
  type SkippedTable,
  type UnplacedRow,
} from './backfill-types.js';

/**
 * Fills NULL tenant columns from the manifest's `backfill` FK columns, parents first, in short
 * keyset batches; records every change; resumes an interrupted run of the same arguments.
 *
 * @example
 * const result = await runBackfill({ manifest, databaseUrl, detachCrossTenant: true });
 * // result.ok === false → result.orphans / result.conflicts say which rows and why
 */
export async function runBackfill(options: BackfillOptions): Promise<BackfillResult> {
  const logger = options.logger ?? silentLogger;
  const { manifest } = options;
  return withClient(options, 'crm-tenancy backfill', async (client) => {
    const live = await resolveLiveContext(client, manifest);
    const plan = await planBackfill(client, live, { table: options.table, lockTimeoutMs: lockTimeoutOf(options) });
    for (const missing of plan.missingTables) {
      logger.warn(`table ${manifest.schema}.${missing} does not exist${tableSuggestion(live.catalog, manifest.schema, missing)}; skipped`);
    }
    for (const skipped of plan.skippedTables) logger.info(`skipped ${skipped.reason}`);
    const keyless = plan.groups.flatMap((g) => g.tables).filter((t) => t.keyless);
    if (keyless.length > 0) {
      logger.warn(
        `${keyless.map((t) => `${t.schema}.${t.table}`).join(', ')}: no primary key; walked by ctid pages and recorded by ctid, which \`undo\` cannot address: it refuses this run (run them on their own with --table to keep other runs undoable)`,
      );
    }
    if (options.assignOrphansTo !== undefined) await checkTenantExists(client, plan, options.assignOrphansTo);
    if (options.dryRun) return dryRunBackfill(client, plan, options);

    await ensureStateSchema(client, manifest.stateSchema);
    const release = await acquireDataLock(client, manifest.stateSchema, manifest.schema, 'backfill');
    try {
      const args = {
        schema: manifest.schema,
        table: options.table ?? null,
        detachCrossTenant: Boolean(options.detachCrossTenant),
        assignOrphansTo: options.assignOrphansTo ?? null,
      };
      // Same arguments as a run that did not finish (killed, or failed): take it over, same run id.
      const previous = await findResumableRun(client, manifest.stateSchema, 'backfill', args);
      return await withRun(
        client,
        manifest.stateSchema,
        'backfill',
        args,
        async (runId) => {
          logger.info(previous ? `resuming interrupted run ${runId}` : `backfill run ${runId}`);
          const result = await fillAndReport(client, plan, options, runId, previous !== undefined);
          return { result, summary: summaryOf(result) };
        },
        { resume: previous?.id },
      );
    } finally {
      await release();
    }
  });
}

/** The body of a recorded run: every group parents first, then the cross-tenant references, then the report. */
async function fillAndReport(
  client: pg.Client,
  plan: BackfillPlan,
  options: BackfillOptions,
  runId: string,
  resumed: boolean,
): Promise<BackfillResult> {
  const logger = options.logger ?? silentLogger;
  const workers: pg.Client[] = [];
  try {
    const jobs = Math.max(1, Math.floor(options.jobs ?? 1));
    if (jobs > 1 && options.client && options.databaseUrl === undefined) {
      logger.warn(`--jobs ${jobs}: no database URL to open more connections with; running 1 job`);
    } else {
      for (let i = 1; i < jobs; i++) workers.push(await connect({ databaseUrl: options.databaseUrl, applicationName: 'crm-tenancy backfill' }));
    }
    const ctx: RunContext = {
      client,
      workers,
      stateSchema: options.manifest.stateSchema,
      runId,
      options,
      logger,
      batchSize: clampBatch(options.batchSize ?? DEFAULT_BATCH_SIZE),
      durations: new Map(),
      assigned: [],
      healthPauses: noHealthPauses(),
    };
    for (const group of plan.groups) await fillGroup(ctx, group.tables, group.cyclic);
    const crossTenant: CrossTenantReference[] = [];
    for (const group of plan.groups) {
      for (const table of group.tables) {
        for (const fk of table.scopedForeignKeys) crossTenant.push(await crossTenantFor(ctx, table, fk));
      }
    }
    return await buildReport(client, plan, options, crossTenant, {
      runId,
      resumed,
      filled: async (t) => {
        const row = await readProgress(ctx, t, 'fill');
        return { filled: row?.changed ?? 0, assigned: await assignedCount(ctx, t), passes: row?.pass ?? 0, batches: row?.batches ?? 0 };
      },
      durations: ctx.durations,
      assigned: ctx.assigned,
      healthPauses: ctx.healthPauses,
    });
  } finally {
    for (const w of workers) await w.end().catch(() => {});
  }
}

async function checkTenantExists(client: pg.ClientBase, plan: BackfillPlan, tenant: string): Promise<void> {
  try {
    const { rowCount } = await client.query(
      `SELECT 1 FROM ${qualified(plan.schema, plan.tenantTable)} WHERE ${ident(plan.tenantKey)} = $1::${plan.tenantType}`,
      [tenant],
    );
    if (rowCount === 0) throw new TenancyError('usage', `--assign-orphans-to ${tenant}: no such ${plan.tenantTable}.${plan.tenantKey}`);
  } catch (error) {
    if (isPgServerError(error)) {
      throw new TenancyError('usage', `--assign-orphans-to ${tenant}: not a valid ${plan.tenantType} (${error.message})`);
    }
    throw error;
  }
}
