// Runs the audit: every check in one consistent READ ONLY snapshot, shared on a small pool.
import { createHash } from 'node:crypto';
import type pg from 'pg';
import type { ConnectionOptions, ConnectionTarget } from '../db/connection.js';
import { findRelation } from '../db/catalog.js';
import { resolveLiveContext, tableSuggestion, untrackedSuggestion } from '../config/live-context.js';
import type { Manifest } from '../config/manifest.js';
import { TenancyError, toTenancyError } from '../errors.js';
import type { Logger } from '../logger.js';
import { silentLogger } from '../logger.js';
import { checkTasks, dataTasks, type Task } from './audit-tasks.js';
import { lookupEnvironment } from './direct-lookup.js';
import { loadChecks } from './check-definitions.js';
import { assertImplemented, planDataChecks } from './check-registry.js';
import type { RawFinding } from './policy-checks.js';
import { readWrapperFunctions, type WrapperFunctions } from './policy-expressions.js';
import { adoptClient, openSnapshot, type Snapshot } from './snapshot.js';
import { bindNamed, checkParams } from './sql-params.js';
import type { AuditResult, CheckDefinition, CheckTarget, CheckRun, DataCheckStatus, DataProof, Finding, Severity, Waiver } from './types.js';
import { findingCounts } from './types.js';
import { applyWaivers } from './waivers.js';
import { prepareIncremental } from './incremental/plan.js';
import type { PreviousAudit } from './incremental/types.js';

/**
 * `client`: a connected client to audit on (left open). The whole audit then runs on it, catalog
 * and data alike, rather than opening data connections beside it: a caller's client may be inside
 * its own transaction, whose uncommitted rows no other connection sees, and a pooled client gives
 * no credentials to open another with. Everything then runs one query after the other: the
 * overlap of catalog reads with data scans, and of the two data lanes (see runAudit), is lost.
 */
export interface AuditOptions extends ConnectionOptions<pg.ClientBase> {
  manifest: Manifest;
  /**
   * Scan the data checks even where the catalog proves the answer (validated composite foreign
   * keys, NOT NULL, valid unique indexes): after a logical-replication catch-up, a restore, or any
   * write with session_replication_role = replica, which skips foreign-key triggers.
   */
  deep?: boolean;
  /** Only these check ids. */
  only?: string[];
  /** All but these check ids. */
  skip?: string[];
  /**
   * `citus`: also run the checks of that target (blockers of create_distributed_table). Implied by
   * the manifest's `distribution: citus`; without either, those checks are not run.
   */
  target?: CheckTarget;
  /** statement_timeout of every query of every check, in ms (default 300 000). */
  statementTimeoutMs?: number;
  /** Connections sharing the snapshot (default 2; always 1 with `client`): the main one reads the catalog, the others run the data queries. */
  concurrency?: number;
  /**
   * work_mem for the data scans (default 4MB). Measured on the 10M-row chain shape (a 4M-row child
   * joined to its 3M-row parent, fastest of 4 runs): 4MB 2.5 s, 16MB 5.2 s, 64MB 6.0 s, 256MB 5.9 s;
   * the whole audit 9.1 s at 4MB vs 12.6 s at 64MB (medians of 3). A hash of the parent split into
   * batches that fit the CPU cache probes faster than one big table, despite the temporary files.
   */
  workMem?: string;
  waivers?: Waiver[];
  /** Accepted fingerprints (--baseline). */
  baseline?: string[];
  failOn?: Severity | 'never';
  logger?: Logger;
  /** Today, for waiver expiry (tests). */
  today?: string;
  /** A previous audit's JSON (`--since`): re-check the data only for rows changed since its snapshot. */
  since?: PreviousAudit;
}

/**
 * One catalog connection and one data connection, decided by measurement on this project's 2-core
 * machine (PostgreSQL 15, 2 parallel workers per query), bench/audit.ts at 10M rows, medians of 3.
 * Idle machine (load < 2), audit / naive at concurrency 3 → 2: many FKs into one parent 1.27 → 1.08
 * (7.02 s → 5.40 s), 10 % bad rows ~1.1 → 1.02; a second data lane makes two parallel scans
 * (each with its workers) fight for 2 cores. Under load from other jobs (load average 10-13) the
 * second lane looked better (chain 10.60 → 7.56 s), but that was mostly the extra process taking a
 * bigger share of the CPU from the other jobs, not work saved. `--concurrency 3` gives two data
 * lanes (worth it with more cores).
 */
export const DEFAULT_CONCURRENCY = 2;

/**
 * With `--since`: one catalog connection and two data connections. Its queries read each table once
 * for its changed rows and probe the parents of those rows (index lookups, page reads), not the hash
 * joins of a full audit, and two lanes overlap them. Measured side by side (bench/audit-since.ts,
 * `--scale 15000 --runs 3 --concurrency 2,3`, 9,975,007 rows, 0.84 % changed, PostgreSQL 15, idle
 * 2-core machine, medians of 3), audit --since / naive at concurrency 2 → 3: uniform changes 0.285 →
 * 0.250, the newest rows 0.208 → 0.172, leaf tables only 0.190 → 0.135. (With ready-first
 * scheduling, on another VM: 0.360 → 0.249, 0.348 → 0.236, 0.161 → 0.102. With the parent-side
 * pairs and the keys handed over as literals, 2026-12-02, uniform: 2.26 s → 1.26 s, 0.295 → 0.165.)
 */
export const DEFAULT_SINCE_CONCURRENCY = 3;

export function fingerprint(check: string, table: string | null, object: string | null): string {
  return createHash('sha256').update(`${check}\u0000${table ?? ''}\u0000${object ?? ''}`).digest('hex').slice(0, 16);
}

/** Check ids, validated against the known ones (unknown → exit 2); a selection of no check at all is exit 2 too. */
export function selectChecks(all: CheckDefinition[], only?: string[], skip?: string[]): CheckDefinition[] {
  const ids = new Set(all.map((c) => c.id));
  const unknown = [...(only ?? []), ...(skip ?? [])].filter((id) => !ids.has(id));
  if (unknown.length > 0) {
    throw new TenancyError('usage', `unknown check id${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}`, {
      hint: `check ids: ${[...ids].join(', ')}`,
    });
  }
  const selected = all.filter((c) => (!only || only.length === 0 || only.includes(c.id)) && !(skip ?? []).includes(c.id));
  if (selected.length === 0) {
    throw new TenancyError('usage', `no check to run: --only and --skip leave none of the ${all.length} checks (an audit that checks nothing is not a pass)`, {
      hint: `check ids: ${[...ids].join(', ')}`,
    });
  }
  return selected;
}

/** The checks that run for a target: every check without one, plus those of `target`. */
export function forTarget(all: CheckDefinition[], target: CheckTarget | undefined): CheckDefinition[] {
  return all.filter((c) => c.target === undefined || c.target === target);
}

/** Per data check: proven, scanned, both, or nothing to check. */
function dataCheckStatus(checks: readonly CheckDefinition[], proofs: readonly DataProof[]): DataCheckStatus[] {
  return checks
    .filter((c) => c.kind === 'data')
    .map((c) => {
      const own = proofs.filter((p) => p.check === c.id);
      const proven = own.filter((p) => p.status === 'proven').length;
      const scanned = own.length - proven;
      const status = own.length === 0 ? 'none' : scanned === 0 ? 'proven' : proven === 0 ? 'scanned' : 'mixed';
      return { check: c.id, status, proven, scanned };
    });
}

/** SQL wrapper functions the policies call (current_org() around the setting read), read through by the policy analysis. */
async function wrapperFunctions(client: pg.ClientBase): Promise<WrapperFunctions> {
  const { rows } = await client.query<{ schema: string; name: string; body: string; visible: boolean }>(
    `SELECT n.nspname::text AS schema, p.proname::text AS name, CASE WHEN p.prosqlbody IS NOT NULL THEN pg_catalog.pg_get_function_sqlbody(p.oid) ELSE p.prosrc END AS body, pg_catalog.pg_function_is_visible(p.oid) AS visible
       FROM pg_catalog.pg_proc p
       JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
       JOIN pg_catalog.pg_language l ON l.oid = p.prolang
      WHERE l.lanname = 'sql' AND p.pronargs = 0 AND p.prokind = 'f'
        AND p.oid IN (SELECT d.refobjid FROM pg_catalog.pg_depend d
                       WHERE d.classid = 'pg_catalog.pg_policy'::regclass AND d.refclassid = 'pg_catalog.pg_proc'::regclass)`,
  );
  return readWrapperFunctions(rows);
}

/**
 * Runs the audit and returns typed findings. Throws (exit 2) when it cannot run: unreachable
 * database, manifest not matching the schema, no scoped table at all or no check selected (no
 * false all-clear), a check that failed or timed out, a check no code implements.
 *
 * @example const result = await runAudit({ databaseUrl, manifest, only: ['null-tenant'] }); // result.exitCode: 0 | 1
 */
export async function runAudit(options: AuditOptions): Promise<AuditResult> {
  const started = Date.now();
  const { manifest } = options;
  const logger = options.logger ?? silentLogger;
  const settings = { statementTimeoutMs: options.statementTimeoutMs ?? 300_000, workMem: options.workMem ?? '4MB' };
  // A caller's client is the only connection (see AuditOptions).
  const concurrency = options.client ? 1 : Math.max(1, options.concurrency ?? (options.since ? DEFAULT_SINCE_CONCURRENCY : DEFAULT_CONCURRENCY));
  const deep = options.deep ?? false;
  const connection: ConnectionTarget = { databaseUrl: options.databaseUrl };
  const all = await loadChecks();
  // Every check of the installation, not only the selected ones: a broken one fails every run, loudly.
  assertImplemented(all);
  const target = options.target ?? options.manifest.distribution;
  const pool = forTarget(all, target);
  const elsewhere = (options.only ?? []).filter((id) => !pool.some((c) => c.id === id) && all.some((c) => c.id === id));
  if (elsewhere.length > 0) {
    const t = all.find((c) => c.id === elsewhere[0])!.target;
    throw new TenancyError('usage', `check ${elsewhere.join(', ')} runs only with --target ${t}`, { hint: `pass --target ${t}, or set distribution: ${t} in the manifest` });
  }
  const checks = selectChecks(pool, options.only, options.skip?.filter((id) => pool.some((c) => c.id === id) || !all.some((c) => c.id === id)));

  const mainSnapshot: Snapshot = options.client ? await adoptClient(options.client, settings) : await openSnapshot(connection, null, settings);
  const main = mainSnapshot.client;
  const workers: Snapshot[] = [];
  // The other connections import the main transaction's snapshot: they connect while the main one
  // reads the catalog (each connection costs ~5-10 ms; side by side, not one after the other).
  let opening: Promise<Snapshot>[] = [];
  let failed = true;
  try {
    // As many as there can be lanes: every other connection with a data check, else one per catalog
    // check beyond the first (one task each); spare ones end once the tasks are known.
    const expectedLanes = checks.some((c) => c.kind === 'data') ? concurrency - 1 : Math.min(concurrency - 1, checks.length - 1);
    if (expectedLanes > 0) {
      const exported = (await main.query<{ s: string }>('SELECT pg_export_snapshot() AS s')).rows[0].s;
      opening = Array.from({ length: expectedLanes }, () => openSnapshot(connection, exported, settings));
      for (const o of opening) o.catch(() => {}); // awaited below; an audit that fails first must not leave a rejection unhandled
    }
    const live = await resolveLiveContext(main, manifest);
    const { catalog } = live;
    const existing = manifest.tables.filter((t) => findRelation(catalog, manifest.schema, t.name));
    if (existing.length === 0) {
      throw new TenancyError('manifest-live', `none of the ${manifest.tables.length} scoped tables exists in schema ${manifest.schema}`, {
        hint: 'connect to the right database, or fix `schema:` / `tables:` in the manifest (an audit of nothing is not a pass)',
      });
    }
    const params = checkParams(manifest, catalog);
    const run = (client: pg.ClientBase, sql: string) => {
      const { text, values } = bindNamed(sql, params);
      return client.query(text, values);
    };
    const wrappers = checks.some((c) => c.kind === 'policy') ? await wrapperFunctions(main) : undefined;
    const plan = planDataChecks(manifest, catalog, checks, deep);
    // The snapshot block of every audit; with --since, the answers that run over changed rows only.
    // What rules direct lookups and the --since cut out for the whole run (Citus, a caller's READ COMMITTED transaction), asked once.
    const environment = await lookupEnvironment(main);
    const incremental = await prepareIncremental(main, { manifest, catalog, plan, allChecks: all, previous: options.since, environment });
    const tasks: Task[] = [
      ...checkTasks(checks, run, {
        setting: manifest.tenant.setting,
        bypassReasons: new Map(manifest.roles.bypass.map((b) => [b.role, b.reason])),
        wrappers,
        citus: target === 'citus',
      }),
      ...dataTasks(incremental.plan, manifest.schema, manifest.tenant.column, environment),
      ...incremental.tasks,
    ];

    // Workers import the main transaction's snapshot: one consistent picture, several connections.
    // The main connection reads the catalog; the data queries get the others (DEFAULT_CONCURRENCY),
    // biggest first so that the lanes finish together; a data connection helps with the catalog once
    // its queue is empty.
    const catalogQueue = tasks.filter((t) => !t.data);
    const dataQueue = tasks.filter((t) => t.data).sort((a, b) => (b.rows ?? 0) - (a.rows ?? 0));
    const lanes = opening;
    opening = [];
    const opened = await Promise.allSettled(lanes);
    for (const o of opened) if (o.status === 'fulfilled') workers.push(o.value);
    const refused = opened.find((o): o is PromiseRejectedResult => o.status === 'rejected');
    if (refused) throw refused.reason;
    // Fewer tasks than connections: the spare ones end now.
    const dataLanes = dataQueue.length === 0 ? catalogQueue.length - 1 : dataQueue.length;
    await Promise.all(workers.splice(Math.max(0, dataLanes)).map((w) => w.release()));
    const raw: { check: string; finding: RawFinding }[] = [];
    const runs: CheckRun[] = [];
    const failures: string[] = [];
    let internal: TenancyError | undefined;
    // The first task of the first queue that is ready; while every task left waits for results
    // another lane is computing, wait for the first of them (never idle while something can run).
    const next = async (queues: Task[][]): Promise<Task | undefined> => {
      for (;;) {
        for (const queue of queues) {
          const i = queue.findIndex((t) => !t.ready || t.ready());
          if (i >= 0) return queue.splice(i, 1)[0];
        }
        const waiting = queues.flat();
        if (waiting.length === 0) return undefined;
        await Promise.race(waiting.map((t) => t.whenReady!().catch(() => {})));
      }
    };
    const drain = async (client: pg.ClientBase, queues: Task[][]): Promise<void> => {
      for (let task = await next(queues); task; task = await next(queues)) {
        const t0 = Date.now();
        const where = task.target ? { target: task.target } : {};
        try {
          const found = await task.run(client);
          for (const f of found) raw.push({ check: f.check ?? task.check, finding: f });
          runs.push({ check: task.check, ...where, ms: Date.now() - t0, findings: found.length });
        } catch (error) {
          const e = toTenancyError(error);
          if (e.code === 'internal') internal ??= e;
          failures.push(`${task.check}${task.target ? ` (${task.target})` : ''}: ${e.message}`);
          runs.push({ check: task.check, ...where, ms: Date.now() - t0, findings: 0, error: e.message });
          logger.warn(`check ${task.check} failed: ${e.message}`);
          // A failed statement aborts that connection's transaction: stop using it.
          return;
        }
      }
    };
    await Promise.all([
      drain(main, workers.length > 0 ? [catalogQueue] : [catalogQueue, dataQueue]),
      ...workers.map((w) => drain(w.client, [dataQueue, catalogQueue])),
    ]);
    if (internal) throw internal;
    if (failures.length > 0 || catalogQueue.length + dataQueue.length > 0) {
      const left = catalogQueue.length + dataQueue.length;
      throw new TenancyError('database', `${failures.length} check${failures.length === 1 ? '' : 's'} could not run: the audit is incomplete`, {
        problems: [...failures, ...(left > 0 ? [`${left} quer${left === 1 ? 'y' : 'ies'} left unrun after the failure`] : [])],
        hint: 'a statement_timeout? raise --statement-timeout; a privilege or row-level security? connect as a role that can read the tables and bypasses RLS (BYPASSRLS, e.g. a read-only auditor)',
      });
    }
    const definitions = new Map(checks.map((c) => [c.id, c]));
    // A manifest typo (`dealz` for `deals`) gives missing-table and untracked-table: each names the other.
    const typoHint = (check: string, table: string | null | undefined): string =>
      !table ? '' : check === 'missing-table' ? tableSuggestion(catalog, manifest.schema, table) : check === 'untracked-table' ? untrackedSuggestion(manifest, catalog, table) : '';
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
        message: finding.message + typoHint(check, finding.table_name),
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
    const counts = findingCounts(findings, failOn);
    const scanned = new Set([...plan.scans.flatMap((s) => s.tables), ...plan.duplicates.map((d) => d.table)]);
    const tables = [...manifest.tables.map((t) => t.name), manifest.tenant.table].map((t) => `${manifest.schema}.${t}`);
    const version = (await main.query<{ v: string }>(`SELECT current_setting('server_version') AS v`)).rows[0].v;
    const since = incremental.finish(findings);
    const result: AuditResult = {
      version: 1,
      schema: manifest.schema,
      tables,
      checks,
      findings,
      runs,
      dataChecks: dataCheckStatus(checks, plan.proofs),
      proofs: plan.proofs,
      unusedWaivers: waived.unused,
      expiredWaivers: waived.expired,
      summary: {
        ...counts,
        checks: checks.length,
        tables: tables.length,
        scannedTables: scanned.size,
        skippedScans: plan.proofs.filter((p) => p.status === 'proven').length,
        deep,
        durationMs: Date.now() - started,
        server: `PostgreSQL ${version}`,
      },
      ok: counts.failing === 0,
      exitCode: counts.failing > 0 ? 1 : 0,
      snapshot: since.snapshot,
      ...(since.report ? { incremental: since.report } : {}),
    };
    failed = false;
    return result;
  } finally {
    for (const o of await Promise.allSettled(opening)) if (o.status === 'fulfilled') workers.push(o.value);
    await Promise.all(workers.map((w) => w.release()));
    if (options.client && !failed) await mainSnapshot.release(); // the caller's transaction must come back as it was: say so when it cannot
    else await mainSnapshot.release().catch(() => {});
  }
}
