// Runs the audit: every check in one consistent READ ONLY snapshot, shared on a small pool.
import { createHash } from 'node:crypto';
import pg from 'pg';
import { clientConfig, describeTarget, type ConnectionTarget } from '../db/connection.js';
import { qualified } from '../db/quote.js';
import { findRelation } from '../db/catalog.js';
import { resolveLiveContext } from '../config/live-context.js';
import type { Manifest } from '../config/manifest.js';
import { TenancyError, toTenancyError } from '../errors.js';
import type { Logger } from '../logger.js';
import { silentLogger } from '../logger.js';
import { loadChecks } from './check-definitions.js';
import { planDataChecks, type DataPlan } from './data-checks.js';
import { permissivePolicyBypass, policyNotTenantScoped, unsafeSettingRead, type RawFinding } from './policy-checks.js';
import { analyzeExpression, readWrapperFunctions, type WrapperFunctions } from './policy-expressions.js';
import { bindNamed } from './sql-params.js';
import type { AuditResult, CheckDefinition, CheckRun, Finding, Severity, Waiver } from './types.js';
import { severityRank } from './types.js';
import { applyWaivers } from './waivers.js';

export interface AuditOptions {
  databaseUrl?: string;
  manifest: Manifest;
  /** Only these check ids. */
  only?: string[];
  /** All but these check ids. */
  skip?: string[];
  /** statement_timeout of every query of every check, in ms (default 300 000). */
  statementTimeoutMs?: number;
  /** Connections sharing the snapshot (default 2): the main one reads the catalog, the others run the data queries. */
  concurrency?: number;
  /** work_mem for the data scans (default 64MB). */
  workMem?: string;
  waivers?: Waiver[];
  /** Accepted fingerprints (--baseline). */
  baseline?: string[];
  failOn?: Severity | 'never';
  logger?: Logger;
  /** Today, for waiver expiry (tests). */
  today?: string;
}

export function fingerprint(check: string, table: string | null, object: string | null): string {
  return createHash('sha256').update(`${check}\u0000${table ?? ''}\u0000${object ?? ''}`).digest('hex').slice(0, 16);
}

/** Check ids, validated against the known ones (unknown → exit 2). */
export function selectChecks(all: CheckDefinition[], only?: string[], skip?: string[]): CheckDefinition[] {
  const ids = new Set(all.map((c) => c.id));
  const unknown = [...(only ?? []), ...(skip ?? [])].filter((id) => !ids.has(id));
  if (unknown.length > 0) {
    throw new TenancyError('usage', `unknown check id${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}`, {
      hint: `check ids: ${[...ids].join(', ')}`,
    });
  }
  return all.filter((c) => (!only || only.length === 0 || only.includes(c.id)) && !(skip ?? []).includes(c.id));
}

interface Task {
  check: string;
  /** The tables a data query reads (run log). */
  target?: string;
  /** A data query (a scan or join of table rows) rather than a catalog read. */
  data?: boolean;
  run: (client: pg.ClientBase) => Promise<RawFinding[]>;
}

async function openSnapshot(target: ConnectionTarget, snapshot: string | null, timeoutMs: number, workMem: string): Promise<pg.Client> {
  const client = new pg.Client({ ...clientConfig(target), application_name: 'crm-tenancy audit' });
  client.on('error', () => {});
  await client.connect();
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  if (snapshot) await client.query(`SET TRANSACTION SNAPSHOT '${snapshot.replace(/[^0-9A-F-]/gi, '')}'`);
  await client.query(
    // row_security = off: a data check that row-level security would filter raises (42501) instead
    // of silently seeing no rows — an auditor subject to RLS must not produce a false all-clear.
    `SELECT set_config('statement_timeout', $1, true), set_config('work_mem', $2, true), set_config('lock_timeout', '5s', true),
            set_config('row_security', 'off', true),
            -- jit = off: compiling each count query costs more than it saves (measured: 4.3 s vs 4.6-6.1 s for the CRM's data checks).
            set_config('jit', 'off', true)`,
    [`${timeoutMs}ms`, workMem],
  );
  return client;
}

/**
 * Runs the audit and returns typed findings. Throws (exit 2) when it cannot run: unreachable
 * database, manifest not matching the schema, no scoped table at all (no false all-clear), a
 * check that failed or timed out.
 */
export async function runAudit(options: AuditOptions): Promise<AuditResult> {
  const started = Date.now();
  const { manifest } = options;
  const logger = options.logger ?? silentLogger;
  const timeoutMs = options.statementTimeoutMs ?? 300_000;
  const workMem = options.workMem ?? '64MB';
  const concurrency = Math.max(1, options.concurrency ?? 2);
  const target: ConnectionTarget = { databaseUrl: options.databaseUrl };
  const checks = selectChecks(await loadChecks(), options.only, options.skip);

  let main: pg.Client;
  try {
    main = await openSnapshot(target, null, timeoutMs, workMem);
  } catch (error) {
    const e = toTenancyError(error);
    throw new TenancyError('connection', `cannot connect to ${describeTarget(target)}: ${e.message}`, { cause: error, hint: e.hint });
  }
  const workers: pg.Client[] = [];
  try {
    const live = await resolveLiveContext(main, manifest);
    const { catalog } = live;
    const existing = manifest.tables.filter((t) => findRelation(catalog, manifest.schema, t.name));
    if (existing.length === 0) {
      throw new TenancyError('manifest-live', `none of the ${manifest.tables.length} scoped tables exists in schema ${manifest.schema}`, {
        hint: 'connect to the right database, or fix `schema:` / `tables:` in the manifest (an audit of nothing is not a pass)',
      });
    }
    const params = {
      schema: manifest.schema,
      state_schema: manifest.stateSchema,
      tenant_table: manifest.tenant.table,
      tenant_key: manifest.tenant.key,
      tenant_column: manifest.tenant.column,
      setting: manifest.tenant.setting,
      scoped_tables: manifest.tables.map((t) => t.name),
      exempt_tables: manifest.exempt.map((t) => t.name),
      app_roles: manifest.roles.app,
      bypass_roles: manifest.roles.bypass.map((b) => b.role),
      bypass_reasons: manifest.roles.bypass.map((b) => b.reason),
      definer_functions: manifest.definerFunctions.map((f) => f.name),
      definer_reasons: manifest.definerFunctions.map((f) => f.reason),
    };
    const bypassReasons = new Map(manifest.roles.bypass.map((b) => [b.role, b.reason]));
    const setting = manifest.tenant.setting;

    let wrappers: WrapperFunctions | undefined;
    if (checks.some((c) => c.kind === 'policy')) {
      // SQL wrapper functions the policies call (current_org() around the setting read) are read
      // through, so the wrapper pattern is recognised as the tenant comparison.
      const wrapperRows = await main.query<{ schema: string; name: string; body: string; visible: boolean }>(
        `SELECT n.nspname::text AS schema, p.proname::text AS name, CASE WHEN p.prosqlbody IS NOT NULL THEN pg_catalog.pg_get_function_sqlbody(p.oid) ELSE p.prosrc END AS body, pg_catalog.pg_function_is_visible(p.oid) AS visible
           FROM pg_catalog.pg_proc p
           JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
           JOIN pg_catalog.pg_language l ON l.oid = p.prolang
          WHERE l.lanname = 'sql' AND p.pronargs = 0 AND p.prokind = 'f'
            AND p.oid IN (SELECT d.refobjid FROM pg_catalog.pg_depend d
                           WHERE d.classid = 'pg_catalog.pg_policy'::regclass AND d.refclassid = 'pg_catalog.pg_proc'::regclass)`,
      );
      wrappers = await readWrapperFunctions(wrapperRows.rows);
    }
    const tasks: Task[] = [];
    const query = async (client: pg.ClientBase, sql: string) => {
      const { text, values } = bindNamed(sql, params);
      return (await client.query(text, values)).rows;
    };
    for (const check of checks) {
      if (check.kind === 'catalog') {
        tasks.push({ check: check.id, run: async (c) => (await query(c, check.sql)) as RawFinding[] });
      } else if (check.id === 'policy-not-tenant-scoped') {
        tasks.push({ check: check.id, run: async (c) => policyNotTenantScoped((await query(c, check.sql)) as never, setting, wrappers) });
      } else if (check.id === 'permissive-policy-bypass') {
        tasks.push({ check: check.id, run: async (c) => permissivePolicyBypass((await query(c, check.sql)) as never, setting, bypassReasons, wrappers) });
      } else if (check.id === 'unsafe-setting-read') {
        tasks.push({
          check: check.id,
          run: async (c) => {
            const rows = (await query(c, check.sql)) as { using_expr: string | null; check_expr: string | null }[];
            const names = new Set<string>();
            for (const row of rows) {
              for (const e of [row.using_expr, row.check_expr]) if (e) for (const f of (await analyzeExpression(e, '', setting, wrappers)).functions) names.add(f);
            }
            const volatile = await c.query<{ proname: string }>(
              `SELECT proname::text FROM pg_catalog.pg_proc WHERE proname = ANY ($1::text[])
                GROUP BY proname HAVING bool_and(provolatile = 'v')`,
              [[...names]],
            );
            return unsafeSettingRead(rows as never, setting, new Set(volatile.rows.map((r) => r.proname)), wrappers);
          },
        });
      }
    }
    const plan: DataPlan = planDataChecks(manifest, catalog, checks);
    for (const scan of plan.scans) {
      tasks.push({
        check: scan.parts[0].check, // a scan answers one check: a NULL count, or the FKs into one parent
        target: scan.target,
        data: true,
        run: async (c) => {
          const row = (await c.query(scan.sql)).rows[0] as Record<string, string>;
          const out: RawFinding[] = [];
          for (const [i, part] of scan.parts.entries()) {
            const count = Number(row[`c${i}`]);
            if (count === 0) continue;
            const values = part.sampleFromCtid ? [row[`m${i}`]] : [];
            const samples = (await c.query({ text: part.sampleSql, values, rowMode: 'array' })).rows.map((r: unknown[]) =>
              r.length === 1 ? r[0] : r,
            );
            out.push({
              table_name: part.table,
              object: part.object,
              count,
              samples,
              message: part.describe(count),
              severity: null,
              check: part.check,
            } as RawFinding & { check: string });
          }
          return out;
        },
      });
    }
    for (const dup of plan.duplicates) {
      tasks.push({
        check: 'duplicate-within-tenant',
        target: dup.table,
        data: true,
        run: async (c) => {
          const row = (await c.query(dup.sql)).rows[0] as { groups: string; extra: string; samples: unknown[] | null };
          const groups = Number(row.groups);
          if (groups === 0) return [];
          const key = dup.singleton ? 'singleton' : `unique (${dup.columns.join(', ')})`;
          return [
            {
              table_name: dup.table,
              object: dup.singleton ? manifest.tenant.column : [manifest.tenant.column, ...dup.columns].join(', '),
              count: groups,
              samples: row.samples ?? [],
              message: `${manifest.schema}.${dup.table}: ${groups} group${groups === 1 ? '' : 's'} violate${groups === 1 ? 's' : ''} the per-tenant ${key} key (${row.extra} surplus row${row.extra === '1' ? '' : 's'})`,
              severity: null,
            },
          ];
        },
      });
    }

    // Workers import the main transaction's snapshot: one consistent picture, several connections.
    // The main connection reads the catalog; the data queries get the others. Each big join already
    // runs in parallel inside PostgreSQL, so two of them at once only compete for the same cores
    // (measured slower on 2 cores); a data connection helps with the catalog once its queue is empty.
    const catalogQueue = tasks.filter((t) => !t.data);
    const dataQueue = tasks.filter((t) => t.data);
    const dataLanes = dataQueue.length === 0 ? Math.min(concurrency - 1, catalogQueue.length - 1) : Math.min(concurrency - 1, dataQueue.length);
    if (dataLanes > 0) {
      const snapshot = (await main.query<{ s: string }>('SELECT pg_export_snapshot() AS s')).rows[0].s;
      for (let i = 0; i < dataLanes; i++) workers.push(await openSnapshot(target, snapshot, timeoutMs, workMem));
    }
    const raw: { check: string; finding: RawFinding }[] = [];
    const runs: CheckRun[] = [];
    const failures: string[] = [];
    const drain = async (client: pg.ClientBase, queues: Task[][]): Promise<void> => {
      for (const queue of queues) {
        for (let task = queue.shift(); task; task = queue.shift()) {
          const t0 = Date.now();
          const where = task.target ? { target: task.target } : {};
          try {
            const found = await task.run(client);
            for (const f of found) raw.push({ check: (f as RawFinding & { check?: string }).check ?? task.check, finding: f });
            runs.push({ check: task.check, ...where, ms: Date.now() - t0, findings: found.length });
          } catch (error) {
            const message = toTenancyError(error).message;
            failures.push(`${task.check}${task.target ? ` (${task.target})` : ''}: ${message}`);
            runs.push({ check: task.check, ...where, ms: Date.now() - t0, findings: 0, error: message });
            logger.warn(`check ${task.check} failed: ${message}`);
            // A failed statement aborts that connection's transaction: stop using it.
            return;
          }
        }
      }
    };
    await Promise.all([
      drain(main, workers.length > 0 ? [catalogQueue] : [catalogQueue, dataQueue]),
      ...workers.map((w) => drain(w, [dataQueue, catalogQueue])),
    ]);
    if (failures.length > 0) {
      throw new TenancyError('database', `${failures.length} check${failures.length === 1 ? '' : 's'} could not run: the audit is incomplete`, {
        problems: failures,
        hint: 'a statement_timeout? raise --statement-timeout; a privilege or row-level security? connect as a role that can read the tables and bypasses RLS (BYPASSRLS, e.g. a read-only auditor)',
      });
    }
    const definitions = new Map(checks.map((c) => [c.id, c]));
    let findings: Finding[] = raw.map(({ check, finding }) => {
      const def = definitions.get(check)!;
      const table = finding.table_name ? `${manifest.schema}.${finding.table_name}` : null;
      return {
        check,
        severity: (finding.severity ?? def.severity) as Severity,
        table,
        object: finding.object,
        count: finding.count === null || finding.count === undefined ? null : Number(finding.count),
        samples: finding.samples ?? [],
        message: finding.message,
        remediation: def.remediation,
        fingerprint: fingerprint(check, table, finding.object),
      };
    });
    const order = new Map(checks.map((c, i) => [c.id, i]));
    findings.sort(
      (a, b) =>
        (order.get(a.check)! - order.get(b.check)!) ||
        (a.table ?? '').localeCompare(b.table ?? '') ||
        (a.object ?? '').localeCompare(b.object ?? ''),
    );
    const waived = applyWaivers(findings, options.waivers ?? [], options.baseline ?? [], options.today);
    findings = waived.findings;

    const failOn = options.failOn ?? 'error';
    const active = findings.filter((f) => !f.waived);
    const failing = failOn === 'never' ? 0 : active.filter((f) => severityRank[f.severity] >= severityRank[failOn]).length;
    const scanned = new Set([...plan.scans.flatMap((s) => s.tables), ...plan.duplicates.map((d) => d.table)]);
    const tables = [...manifest.tables.map((t) => t.name), manifest.tenant.table].map((t) => `${manifest.schema}.${t}`);
    const version = (await main.query<{ v: string }>(`SELECT current_setting('server_version') AS v`)).rows[0].v;
    return {
      version: 1,
      schema: manifest.schema,
      tables,
      checks,
      findings,
      runs,
      unusedWaivers: waived.unused,
      expiredWaivers: waived.expired,
      summary: {
        error: active.filter((f) => f.severity === 'error').length,
        warning: active.filter((f) => f.severity === 'warning').length,
        info: active.filter((f) => f.severity === 'info').length,
        waived: findings.length - active.length,
        failing,
        failOn,
        checks: checks.length,
        tables: tables.length,
        scannedTables: scanned.size,
        skippedScans: plan.skipped.length,
        durationMs: Date.now() - started,
        server: `PostgreSQL ${version}`,
      },
      exitCode: failing > 0 ? 1 : 0,
    };
  } finally {
    for (const c of [...workers, main]) {
      await c.query('ROLLBACK').catch(() => {});
      await c.end().catch(() => {});
    }
  }
}

/** Quoted `schema.table` for messages that embed SQL (remediation snippets). */
export const sqlName = (schema: string, table: string): string => qualified(schema, table);
