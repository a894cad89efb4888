// The audit benchmark's yardsticks: the customer's naive data checks (one query per check per FK) and the count(*) floor, run by psql.
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import type { Catalog } from '../../src/db/catalog.js';
import { findColumn, findRelation, foreignKeys } from '../../src/db/catalog.js';
import { ident, qualified } from '../../src/db/quote.js';
import type { Manifest } from '../../src/config/manifest.js';

export interface NaiveScript {
  sql: string;
  /** Queries in the script, by kind. */
  nullQueries: number;
  fkQueries: number;
  duplicateQueries: number;
  unknownTenantQueries: number;
}

/**
 * The data checks as comprehensive_audit.sql writes them: for every scoped table with the tenant
 * column `SELECT count(*) … WHERE company_id IS NULL`; for every FK between scoped tables a join on
 * the FK's own columns (the tenant column left out, as a script written before composite keys
 * would) counting rows whose tenants differ; for every manifest unique / singleton key a GROUP BY …
 * HAVING count(*) > 1; and, since the audit also runs unknown-tenant (check 0030), one anti-join per
 * table against the tenant table (rows whose tenant names no tenant), so both do the same checks.
 * No skipping: the script does not read the catalog.
 */
export function naiveAuditSql(manifest: Manifest, catalog: Catalog): NaiveScript {
  const { schema } = manifest;
  const col = ident(manifest.tenant.column);
  const scoped = new Set(manifest.tables.map((t) => t.name));
  const lines: string[] = [];
  let nullQueries = 0;
  let fkQueries = 0;
  let duplicateQueries = 0;
  let unknownTenantQueries = 0;
  const tenants = qualified(schema, manifest.tenant.table);
  const tenantKey = ident(manifest.tenant.key);
  for (const entry of manifest.tables) {
    const table = findRelation(catalog, schema, entry.name);
    if (!table || !findColumn(table, manifest.tenant.column)) continue;
    const t = qualified(schema, entry.name);
    lines.push(`SELECT count(*) AS null_tenants FROM ${t} WHERE ${col} IS NULL;`);
    nullQueries++;
    lines.push(`SELECT count(*) AS unknown_tenants FROM ${t} c WHERE c.${col} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM ${tenants} k WHERE k.${tenantKey} = c.${col});`);
    unknownTenantQueries++;
    for (const fk of foreignKeys(table)) {
      const ref = fk.references!;
      if (ref.schema !== schema || !scoped.has(ref.table)) continue;
      const parent = findRelation(catalog, schema, ref.table);
      if (!parent || !findColumn(parent, manifest.tenant.column)) continue;
      const pairs = fk.columns
        .map((c, i) => [c, ref.columns[i]] as const)
        .filter(([c, p]) => !(c === manifest.tenant.column && p === manifest.tenant.column));
      if (pairs.length === 0) continue;
      const on = pairs.map(([c, p]) => `c.${ident(c)} = p.${ident(p)}`).join(' AND ');
      lines.push(`SELECT count(*) AS cross_tenant FROM ${t} c JOIN ${qualified(schema, ref.table)} p ON ${on} WHERE c.${col} <> p.${col};`);
      fkQueries++;
    }
    const keys = [...entry.unique, ...(entry.singleton ? [{ columns: [] as string[], where: undefined }] : [])];
    for (const { columns: cols, where } of keys) {
      if (!cols.every((c) => findColumn(table, c))) continue;
      const group = [manifest.tenant.column, ...cols].map(ident).join(', ');
      const filter = where === undefined ? '' : ` WHERE (${where})`;
      lines.push(`SELECT count(*) AS duplicate_groups FROM (SELECT ${group} FROM ${t}${filter} GROUP BY ${group} HAVING count(*) > 1) d;`);
      duplicateQueries++;
    }
  }
  return { sql: lines.join('\n') + '\n', nullQueries, fkQueries, duplicateQueries, unknownTenantQueries };
}

/** The floor: `SELECT count(*)` of every existing scoped table (what reading each table once costs). */
export function floorSql(manifest: Manifest, catalog: Catalog): string {
  return (
    manifest.tables
      .filter((t) => findRelation(catalog, manifest.schema, t.name))
      .map((t) => `SELECT count(*) FROM ${qualified(manifest.schema, t.name)};`)
      .join('\n') + '\n'
  );
}

/** Runs a command, returns wall-clock ms (process start included); rejects with its stderr when it exits non-zero or with a code not in `okCodes`. */
export function timeCommand(command: string, args: string[], okCodes: number[] = [0]): Promise<{ ms: number; stdout: string; code: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = performance.now() - t0;
      if (code === null || !okCodes.includes(code)) reject(new Error(`${command} ${args[0] ?? ''} exited ${code}: ${stderr.trim().slice(0, 2000)}`));
      else resolve({ ms, stdout, code });
    });
  });
}

/** `psql -X -q -v ON_ERROR_STOP=1 -f FILE` against `url`; output discarded; wall-clock ms. */
export async function timePsql(url: string, file: string): Promise<number> {
  return (await timeCommand('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-o', '/dev/null', '-d', url, '-f', file])).ms;
}
