// The security contract's fixture: a finished rollout of the sample CRM per test file, and the real CLI's audit and verify on it.
import { rm } from 'node:fs/promises';
import type pg from 'pg';
import { afterAll, beforeAll, expect } from 'vitest';
import { ident, literal } from '../../src/db/quote.js';
import { applyPolicies } from '../../src/policies/apply.js';
import { rollOut, type RolledOut } from '../policies/fixture.js';
import { runCli } from '../support/cli.js';
import { useTestDatabase, type TestDatabase } from '../support/database.js';

export interface AuditRun {
  code: number | null;
  /** `check table object severity` of every finding (JSON output). */
  findings: { check: string; table: string | null; object: string | null; severity: string; message: string }[];
  /** Check ids with at least one error. */
  errors: string[];
  stderr: string;
}

export interface VerifyRun {
  code: number | null;
  failures: { role: string; table: string; probe: string; detail: string }[];
  /** Probe names among the failures. */
  probes: string[];
  stderr: string;
}

export interface Rollout {
  db: TestDatabase;
  rolled: RolledOut;
  /** The application role (unique to this run). */
  app: string;
  /** The superuser the tests connect as (owner of the sample's tables). */
  superuser: string;
  sql(text: string, values?: unknown[]): Promise<pg.QueryResult>;
  /** `crm-tenancy audit --format json` (default --fail-on error), connected through DATABASE_URL. */
  audit(): Promise<AuditRun>;
  /** `crm-tenancy verify --json`, connected through DATABASE_URL. */
  verify(): Promise<VerifyRun>;
  /**
   * Runs `text` as the application role with `tenant` set (or none), in a transaction that is
   * rolled back: what the application could do. Returns the rows and rowCount, or the SQLSTATE.
   */
  asApp(tenant: string | null, text: string): Promise<{ rows: Record<string, unknown>[]; rowCount: number } | { error: string }>;
}

const SETTING = 'app.current_company_id';

/**
 * A fresh database with the sample CRM rolled out (tenant columns filled, composite keys, RLS
 * forced with the generated policies, the application role's grants): `audit` and `verify` pass
 * on it. Once per test file (beforeAll), about two seconds.
 */
export function useRollout(): () => Rollout {
  const db = useTestDatabase({ sample: true });
  let rollout: Rollout | undefined;
  beforeAll(async () => {
    const d = db();
    const rolled = await rollOut(d, { composite: true });
    const applied = await applyPolicies({ client: d.client, manifest: rolled.manifest, policiesDir: rolled.policiesDir });
    expect(applied.ok).toBe(true);
    const superuser = (await d.client.query<{ u: string }>('SELECT current_user AS u')).rows[0].u;
    const env = { DATABASE_URL: d.url };
    rollout = {
      db: d,
      rolled,
      app: rolled.app,
      superuser,
      sql: (text, values) => d.client.query(text, values),
      async audit() {
        const r = await runCli(['audit', '--format', 'json', '--config', rolled.manifestFile], { env });
        let findings: AuditRun['findings'] = [];
        try {
          findings = (JSON.parse(r.stdout) as { findings: AuditRun['findings'] }).findings;
        } catch {
          throw new Error(`audit printed no JSON (exit ${r.code}): ${r.stderr}`);
        }
        const errors = [...new Set(findings.filter((f) => f.severity === 'error').map((f) => f.check))];
        return { code: r.code, findings, errors, stderr: r.stderr };
      },
      async verify() {
        const r = await runCli(['verify', '--json', '--config', rolled.manifestFile], { env });
        let failures: VerifyRun['failures'] = [];
        try {
          failures = (JSON.parse(r.stdout) as { failures: VerifyRun['failures'] }).failures;
        } catch {
          throw new Error(`verify printed no JSON (exit ${r.code}): ${r.stderr}`);
        }
        return { code: r.code, failures, probes: [...new Set(failures.map((f) => f.probe))], stderr: r.stderr };
      },
      async asApp(tenant, text) {
        const c = d.client;
        await c.query('BEGIN');
        try {
          await c.query(`SET LOCAL lock_timeout = '5s'`);
          await c.query(`SET LOCAL ROLE ${ident(rolled.app)}`);
          if (tenant !== null) await c.query(`SELECT set_config(${literal(SETTING)}, $1, true)`, [tenant]);
          const result = (await c.query(text)) as pg.QueryResult | pg.QueryResult[];
          // Several statements: the last one's result.
          const r = Array.isArray(result) ? result[result.length - 1] : result;
          return { rows: r.rows as Record<string, unknown>[], rowCount: r.rowCount ?? 0 };
        } catch (error) {
          return { error: (error as { code?: string }).code ?? String(error) };
        } finally {
          await c.query('ROLLBACK');
        }
      },
    };
  });
  afterAll(async () => {
    if (rollout) await rm(rollout.rolled.dir, { recursive: true, force: true });
  });
  return () => {
    if (!rollout) throw new Error('useRollout: the rollout is built in beforeAll');
    return rollout;
  };
}

/**
 * Asserts the gate is closed again: audit and verify both pass (exit 0), neither names the hole.
 * Soft assertions: each failure is reported (the test fails), and all of them are.
 */
export async function expectBothPass(r: Rollout, check: string, probe: string): Promise<void> {
  const audit = await r.audit();
  expect.soft(audit.findings.filter((f) => f.check === check && f.severity === 'error')).toEqual([]);
  expect.soft(audit.findings.filter((f) => f.severity === 'error')).toEqual([]);
  expect.soft(audit.code).toBe(0);
  const verify = await r.verify();
  expect.soft(verify.failures.filter((f) => f.probe === probe)).toEqual([]);
  expect.soft(verify.failures).toEqual([]);
  expect.soft(verify.code).toBe(0);
}
