// The public API as the README shows it: the audit called from a test, through the package's entry
// point (dist/index.js, as `import … from 'crm-tenancy'` resolves), and nothing internal exported.
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../support/cli.js';
import { useTestDatabase } from '../support/database.js';

describe('the public API', () => {
  const db = useTestDatabase({ sample: true });

  it("the README's example: runAudit + renderAudit from the package root", async () => {
    const api = (await import(pathToFileURL(path.join(repoRoot, 'dist/index.js')).href)) as typeof import('../../src/index.js');
    const result = await api.runAudit({ manifest: await api.loadManifest(path.join(repoRoot, 'tenancy.yaml')), databaseUrl: db().url });
    // The sample CRM as loaded is the report's state: the gate fails, and the report says why.
    expect(result.ok).toBe(false);
    expect(result.exitCode).toBe(1);
    expect(api.renderAudit(result, 'table')).toMatch(/null-tenant/);
  });

  it('exports each command and the types around it, not the internals', async () => {
    const api = await import(pathToFileURL(path.join(repoRoot, 'dist/index.js')).href);
    for (const name of [
      'runAudit', 'renderAudit', 'generateMigrations', 'runMigrate', 'migrationStatus', 'runBackfill', 'runDedupe',
      'undoRun', 'applyPolicies', 'policyDiff', 'policyStatus', 'verifyIsolation', 'rolloutStatus', 'draftManifest',
      'loadManifest', 'parseManifestText', 'withTenant', 'citusRouting', 'TenancyError', 'runDemo', 'loadSampleCrm', 'loadSampleSaas',
    ]) {
      expect(typeof api[name], name).toBe('function');
    }
    for (const internal of ['ident', 'qualified', 'readCatalog', 'startRun', 'withLockRetry', 'connect', 'ensureStateSchema']) {
      expect(api[internal], internal).toBeUndefined();
    }
  });
});
