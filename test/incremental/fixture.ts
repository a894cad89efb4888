// A small CRM for the incremental re-audit tests: every data check kind scanned (no constraint proves them).
import type pg from 'pg';
import { runAudit } from '../../src/audit/runner.js';
import type { AuditResult } from '../../src/audit/types.js';
import { previousFromJson } from '../../src/audit/incremental/read-previous.js';
import type { PreviousAudit } from '../../src/audit/incremental/types.js';
import { parseManifest, type Manifest } from '../../src/config/manifest.js';
import { renderJson } from '../../src/report/json.js';

export const DATA_CHECKS = ['null-tenant', 'cross-tenant-reference', 'duplicate-within-tenant', 'unknown-tenant'];

/** companies (tenants); contacts (unique email per tenant); deals → contacts (plain FK); notes → Contact/Deal (polymorphic); tasks → projects (NOT VALID composite FK: the grouped form). */
export const SCHEMA_SQL = `
  CREATE SCHEMA inc;
  CREATE TABLE inc.companies (id integer PRIMARY KEY, name text);
  INSERT INTO inc.companies SELECT g, 'c' || g FROM generate_series(1, 4) g;
  CREATE TABLE inc.contacts (id integer PRIMARY KEY, company_id integer, email text);
  INSERT INTO inc.contacts SELECT g, 1 + g % 3, 'e' || g FROM generate_series(1, 60) g;
  CREATE TABLE inc.deals (id integer PRIMARY KEY, company_id integer, contact_id integer REFERENCES inc.contacts (id) ON DELETE CASCADE);
  CREATE INDEX ON inc.deals (contact_id);
  INSERT INTO inc.deals SELECT g, 1 + (g % 60 + 1) % 3, g % 60 + 1 FROM generate_series(1, 120) g;
  CREATE TABLE inc.notes (id integer PRIMARY KEY, company_id integer, item_type text, item_id text);
  INSERT INTO inc.notes SELECT g, 1 + (g % 60 + 1) % 3, 'Contact', (g % 60 + 1)::text FROM generate_series(1, 40) g;
  CREATE TABLE inc.projects (company_id integer, id integer, PRIMARY KEY (company_id, id));
  INSERT INTO inc.projects SELECT 1 + g % 3, g FROM generate_series(1, 9) g;
  CREATE TABLE inc.tasks (id integer PRIMARY KEY, company_id integer, project_id integer);
  INSERT INTO inc.tasks SELECT g, 1 + (g % 9 + 1) % 3, g % 9 + 1 FROM generate_series(1, 30) g;
  ALTER TABLE inc.tasks ADD FOREIGN KEY (company_id, project_id) REFERENCES inc.projects NOT VALID;
`;

export const manifest: Manifest = parseManifest({
  schema: 'inc',
  tenant: { table: 'companies', key: 'id', column: 'company_id', setting: 'app.tenant' },
  roles: { app: ['crm_app_never_created'] },
  tables: {
    contacts: { unique: [['email']] },
    deals: null,
    notes: { polymorphic: [{ type: 'item_type', id: 'item_id', targets: { Contact: 'contacts', Deal: 'deals' } }] },
    projects: null,
    tasks: null,
  },
});

export const audit = (url: string, since?: PreviousAudit, client?: pg.ClientBase): Promise<AuditResult> =>
  runAudit({ databaseUrl: url, manifest, only: DATA_CHECKS, since, ...(client ? { client } : {}) });

/**
 * The previous audit as --since reads it: through the JSON report, as the CLI would. `tight`: its
 * snapshot's xmin raised to its xmax. The tests' own writes all commit before the audit they follow,
 * but a transaction open elsewhere on the shared server holds the real xmin back, and every row of
 * the test would then count as changed, hiding what the parent side must find. Not for a test
 * whose transaction is open during the previous audit (the subtransaction case keeps the real one).
 */
export const asPrevious = (result: AuditResult, file = 'previous.json', tight = true): PreviousAudit => {
  const previous = previousFromJson(file, JSON.parse(renderJson(result)));
  if (tight && previous.snapshot) previous.snapshot.xmin = previous.snapshot.xmax;
  return previous;
};

/** Findings as comparable data; samples sorted (the scan takes the first 5 it meets). */
export const view = (result: AuditResult) =>
  result.findings.map((f) => ({
    check: f.check,
    table: f.table,
    object: f.object,
    count: f.count,
    message: f.message,
    samples: [...f.samples].map((s) => JSON.stringify(s)).sort(),
  }));

/** Per table: `incremental` or `full: reason…` (the first reason), as the report says it. */
export const modes = (result: AuditResult): Record<string, string> =>
  Object.fromEntries(
    (result.incremental?.tables ?? []).map((t) => [t.table.replace(/^inc\./, ''), t.mode === 'full' ? `full: ${t.reasons.join(' | ')}` : t.mode]),
  );

/** A data-checks audit (with --since when given) of a test schema whose tenant is companies.id, in column company_id. */
export function schemaAudit(url: () => string, schema: string, tables: Record<string, null>): (since?: PreviousAudit) => Promise<AuditResult> {
  const scoped = parseManifest({
    schema,
    tenant: { table: 'companies', key: 'id', column: 'company_id', setting: 'app.tenant' },
    roles: { app: ['crm_app_never_created'] },
    tables,
  });
  return (since) => runAudit({ databaseUrl: url(), manifest: scoped, only: DATA_CHECKS, since });
}
