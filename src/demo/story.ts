// The story, step by step, on any database: load the sample CRM, then each real command's core.
import pg from 'pg';
import { loadManifest, type Manifest } from '../config/manifest.js';
import { loadSampleCrm, SAMPLE_MANIFEST } from '../sample/sample-crm.js';
import { readOverview, type Overview } from './overview.js';

export interface StoryStep {
  name: string;
  ms: number;
  /** One line saying what the step found or did. */
  summary: string;
}

export interface StoryHooks {
  /** Called when a step starts and when it ends. */
  onStep?: (step: { name: string; phase: 'start' | 'end'; result?: StoryStep }) => void;
  onOverview?: (label: string, overview: Overview) => void;
}

export interface StoryOptions extends StoryHooks {
  /** An empty database to load the sample CRM into. */
  databaseUrl: string;
  /** A scratch directory for generated migrations and policy files. */
  workDir: string;
  /** The manifest (default: the sample CRM's tenancy.yaml); tests pass one with their own role names. */
  manifest?: Manifest;
}

export interface StoryResult {
  steps: StoryStep[];
  before: Overview;
}

async function step<T>(
  steps: StoryStep[],
  hooks: StoryHooks,
  name: string,
  fn: () => Promise<{ value: T; summary: string }>,
): Promise<T> {
  hooks.onStep?.({ name, phase: 'start' });
  const started = Date.now();
  const { value, summary } = await fn();
  const result = { name, ms: Date.now() - started, summary };
  steps.push(result);
  hooks.onStep?.({ name, phase: 'end', result });
  return value;
}

/** Runs the story on `databaseUrl` and returns what each step found and did. */
export async function runStory(options: StoryOptions): Promise<StoryResult> {
  const steps: StoryStep[] = [];
  const manifest = options.manifest ?? (await loadManifest(SAMPLE_MANIFEST));
  const client = new pg.Client({ connectionString: options.databaseUrl, application_name: 'crm-tenancy demo' });
  await client.connect();
  try {
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
    return { steps, before };
  } finally {
    await client.end().catch(() => {});
  }
}
