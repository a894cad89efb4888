// `verify`: proves tenant isolation live, as each application role, with probes that are always rolled back.
import { findColumn } from '../db/catalog.js';
import { withClient } from '../db/connection.js';
import { silentLogger } from '../logger.js';
import { columnSuggestion, tableSuggestion } from '../config/live-context.js';
import { citusPropagation } from './citus-propagation-probe.js';
import { definerFunctions } from './definer-function-probe.js';
import { prepareVerify, tableInfo } from './preconditions.js';
import { alterTableProbe, truncateProbe } from './privilege-probes.js';
import { polymorphicReference } from './polymorphic-probe.js';
import { newPartitionProbe } from './partition-probe.js';
import { errorText } from './probe-transaction.js';
import { selectNoTenant, selectOwn } from './read-probes.js';
import { crossTenantReference } from './reference-probe.js';
import { roleMembership, stateSchemaProbe, unprotectedTables, type Finding } from './role-probes.js';
import { isSharedRowsTable, selectNoTenantShared, selectOwnShared, sharedRowsProbe } from './shared-rows-probe.js';
import { tenantSettingDefault } from './tenant-setting-probe.js';
import { viewsProbe } from './view-probe.js';
import {
  PROBE_STATUSES,
  ROLE_PROBES,
  TABLE_PROBES,
  type Outcome,
  type ProbeEnv,
  type ProbeIssue,
  type ProbeResult,
  type ProbeStatus,
  type RoleProbeId,
  type TableProbeEnv,
  type TableProbeId,
  type VerifyOptions,
  type VerifyResult,
} from './verify-types.js';
import { deleteOtherRows, insertOtherTenant, updateOtherRows, updateToOtherTenant } from './write-probes.js';

export {
  PROBES,
  PROBE_STATUSES,
  ROLE_PROBES,
  TABLE_PROBES,
  type ProbeId,
  type ProbeIssue,
  type ProbeResult,
  type ProbeStatus,
  type VerifyOptions,
  type VerifyResult,
} from './verify-types.js';

/** Each table probe, and whether it runs both ways (A set against B, then B set against A). */
const TABLE_RUNNERS: Record<TableProbeId, { run: (env: TableProbeEnv) => Promise<Outcome>; bothWays: boolean }> = {
  'select-own': { run: selectOwn, bothWays: true },
  'select-no-tenant': { run: selectNoTenant, bothWays: false },
  'insert-other-tenant': { run: insertOtherTenant, bothWays: true },
  'update-to-other-tenant': { run: updateToOtherTenant, bothWays: true },
  'update-other-rows': { run: updateOtherRows, bothWays: true },
  'delete-other-rows': { run: deleteOtherRows, bothWays: true },
  'cross-tenant-reference': { run: crossTenantReference, bothWays: true },
  views: { run: viewsProbe, bothWays: true },
  truncate: { run: truncateProbe, bothWays: false },
  'alter-table': { run: alterTableProbe, bothWays: false },
};

const ROLE_RUNNERS: Record<RoleProbeId, (env: ProbeEnv) => Promise<Finding[]>> = {
  'definer-function': definerFunctions,
  'tenant-setting-default': tenantSettingDefault,
  'unprotected-table': unprotectedTables,
  'state-schema': stateSchemaProbe,
  'role-membership': roleMembership,
  'polymorphic-reference': polymorphicReference,
  'new-partition': newPartitionProbe,
  'shared-rows': sharedRowsProbe,
  'citus-propagation': citusPropagation,
};

/** On a shared_rows table the reads also return the shared (NULL-tenant) rows: these probes expect them. */
const SHARED_ROWS_RUNNERS: Partial<typeof TABLE_RUNNERS> = {
  'select-own': { run: selectOwnShared, bothWays: true },
  'select-no-tenant': { run: selectNoTenantShared, bothWays: false },
};

/** The worst status wins when a probe ran both ways; its details (from the runs that gave it) are kept. */
const SEVERITY: readonly ProbeStatus[] = ['fail', 'error', 'unprobed', 'reported', 'pass', 'n/a'];
function worst(outcomes: Outcome[]): Outcome {
  const status = SEVERITY.find((s) => outcomes.some((o) => o.status === s)) ?? 'error';
  const details = [...new Set(outcomes.filter((o) => o.status === status).map((o) => o.detail).filter(Boolean))];
  return { status, detail: details.join('; ') };
}

async function settle<T>(fn: () => Promise<T>, onError: (detail: string) => T): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    return onError(errorText(error));
  }
}

/**
 * Proves isolation on the live database: as each application role (SET ROLE inside the
 * transaction), for the tenant table and every scoped table, runs the table probes with two real
 * tenants in both directions, then the role probes (definer functions, tenant-setting defaults,
 * unprotected tables, the bookkeeping schema, SET ROLE paths). Every probe runs in a transaction
 * that is rolled back; nothing is changed. Connect as a superuser or a BYPASSRLS role (true
 * counts), member of the application roles. `ok` is false on any failure, and on anything left
 * unprobed unless `allowUnprobed`.
 *
 * @example const result = await verifyIsolation({ manifest }); result.ok // false names table and probe
 */
export async function verifyIsolation(options: VerifyOptions): Promise<VerifyResult> {
  const { manifest } = options;
  const logger = options.logger ?? silentLogger;
  return withClient(options, 'crm-tenancy verify', async (client) => {
    const { catalog, tenantInfo, a, b, citus } = await prepareVerify(client, manifest, options.tenants);
    logger.info(`verify: tenant A = ${a}, tenant B = ${b} (probed both ways); roles ${manifest.roles.app.join(', ')}`);
    if (citus) logger.info(`verify: ${citus.version} coordinator: the probes set the tenant with SET LOCAL (forwarded to the workers)`);
    const tables = [manifest.tenant.table, ...manifest.tables.map((t) => t.name)];
    const total = manifest.roles.app.length * (tables.length + 1);
    let done = 0;
    const tableResults: ProbeResult[] = [];
    const roleResults: ProbeResult[] = [];
    for (const role of manifest.roles.app) {
      const env: ProbeEnv = { client, manifest, catalog, tenantInfo, role, a, b, citus };
      for (const name of tables) {
        options.onProgress?.({ kind: 'verify', task: `${role} ${name}`, done, total });
        const info = name === manifest.tenant.table ? tenantInfo : tableInfo(manifest, catalog, name, false);
        if (!info || !findColumn(info.rel, info.column)) {
          const why = !info
            ? `table ${manifest.schema}.${name} does not exist${tableSuggestion(catalog, manifest.schema, name)}`
            : `column ${info.column} does not exist${columnSuggestion(info.rel, info.column)}`;
          for (const probe of TABLE_PROBES) tableResults.push({ role, table: name, probe, status: 'error', detail: why });
        } else {
          for (const probe of TABLE_PROBES) {
            const { run, bothWays } = (isSharedRowsTable(env, name) ? SHARED_ROWS_RUNNERS[probe] : undefined) ?? TABLE_RUNNERS[probe];
            const directions = bothWays ? [{ ...env, info }, { ...env, info, a: b, b: a }] : [{ ...env, info }];
            const outcomes: Outcome[] = [];
            for (const d of directions) outcomes.push(await settle(() => run(d), (detail): Outcome => ({ status: 'error', detail })));
            tableResults.push({ role, table: name, probe, ...worst(outcomes) });
          }
        }
        done++;
      }
      options.onProgress?.({ kind: 'verify', task: `${role} role probes`, done, total });
      for (const probe of ROLE_PROBES) {
        const findings = await settle(() => ROLE_RUNNERS[probe](env), (detail): Finding[] => [{ table: '-', status: 'error', detail }]);
        for (const f of findings) roleResults.push({ role, probe, ...f });
      }
      done++;
    }
    options.onProgress?.({ kind: 'verify', task: 'done', done: total, total });
    const probes = [...tableResults, ...roleResults];
    const counts = Object.fromEntries(PROBE_STATUSES.map((s) => [s, 0])) as Record<ProbeStatus, number>;
    for (const p of probes) counts[p.status]++;
    const issue = (p: ProbeResult): ProbeIssue => ({ role: p.role, table: p.table, probe: p.probe, detail: p.detail });
    const failures = probes.filter((p) => p.status === 'fail' || p.status === 'error').map(issue);
    const unprobed = probes.filter((p) => p.status === 'unprobed').map(issue);
    return {
      tenants: { a, b },
      roles: [...manifest.roles.app],
      tables,
      probes,
      counts,
      failures,
      unprobed,
      passed: counts.pass,
      failed: counts.fail + counts.error,
      ok: failures.length === 0 && (unprobed.length === 0 || options.allowUnprobed === true),
      ...(citus ? { citus } : {}),
    };
  });
}
