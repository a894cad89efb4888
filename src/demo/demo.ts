// The whole story on an embedded PostgreSQL: every step is the real command's core function.
import pg from 'pg';
import { loadManifest, type Manifest } from '../config/manifest.js';
import { startEmbeddedPostgres, type EmbeddedServer } from '../embedded/embedded-server.js';
import { loadSampleCrm, SAMPLE_MANIFEST } from '../sample/sample-crm.js';
import { readOverview, type Overview } from './overview.js';

export interface DemoStep {
  name: string;
  ms: number;
  /** One line saying what the step found or did. */
  summary: string;
}

export interface DemoHooks {
  /** Called when a step starts and when it ends. */
  onStep?: (step: { name: string; phase: 'start' | 'end'; result?: DemoStep }) => void;
  onOverview?: (label: string, overview: Overview) => void;
}

export interface DemoResult {
  databaseUrl: string;
  steps: DemoStep[];
  before: Overview;
  kept: boolean;
}

export interface DemoOptions extends DemoHooks {
  /** Leave the server running (the caller stops it later through `server`). */
  keep?: boolean;
  /** Called once the server is up, so the caller can stop it on Ctrl-C. */
  onServer?: (server: EmbeddedServer) => void;
}

async function step<T>(steps: DemoStep[], hooks: DemoHooks, name: string, fn: () => Promise<{ value: T; summary: string }>): Promise<T> {
  hooks.onStep?.({ name, phase: 'start' });
  const started = Date.now();
  const { value, summary } = await fn();
  const result = { name, ms: Date.now() - started, summary };
  steps.push(result);
  hooks.onStep?.({ name, phase: 'end', result });
  return value;
}

/** Runs the demo; stops the embedded server at the end unless `keep`. */
export async function runDemo(options: DemoOptions = {}): Promise<DemoResult & { server: EmbeddedServer }> {
  const steps: DemoStep[] = [];
  const server = await step(steps, options, 'start embedded PostgreSQL', async () => {
    const s = await startEmbeddedPostgres();
    options.onServer?.(s);
    return { value: s, summary: `listening on 127.0.0.1:${s.port}` };
  });
  const admin = new pg.Client({ connectionString: server.url });
  let stopServer = !options.keep;
  try {
    await admin.connect();
    await admin.query('CREATE DATABASE sales_crm');
    await admin.end();
    const databaseUrl = server.url.replace(/\/postgres$/, '/sales_crm');
    const client = new pg.Client({ connectionString: databaseUrl, application_name: 'crm-tenancy demo' });
    await client.connect();
    try {
      const manifest: Manifest = await loadManifest(SAMPLE_MANIFEST);
      await step(steps, options, 'load the sample CRM', async () => {
        const r = await loadSampleCrm(client);
        return { value: r, summary: `${r.rows} rows in the report's state` };
      });
      const before = await step(steps, options, 'look at it', async () => {
        const overview = await readOverview(client, manifest);
        const missing = overview.tables.filter((t) => !t.hasTenantColumn).length;
        const nulls = overview.tables.reduce((n, t) => n + (t.hasTenantColumn ? t.nullTenants : 0), 0);
        return {
          value: overview,
          summary: `${overview.tenants.length} tenants, ${overview.tables.length} scoped tables, ${missing} without ${manifest.tenant.column}, ${nulls} NULL tenants`,
        };
      });
      options.onOverview?.('before', before);
      return { databaseUrl, steps, before, kept: Boolean(options.keep), server };
    } finally {
      await client.end().catch(() => {});
    }
  } catch (error) {
    stopServer = true;
    throw error;
  } finally {
    await admin.end().catch(() => {});
    if (stopServer) await server.stop();
  }
}
