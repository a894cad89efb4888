// The demo: an embedded PostgreSQL, a database loaded with the sample CRM, and the whole story on it.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { connect } from '../db/connection.js';
import { startEmbeddedPostgres, type EmbeddedServer } from '../embedded/embedded-server.js';
import { runStory, type StoryHooks, type StoryResult } from './story.js';

export interface DemoOptions extends StoryHooks {
  /** Leave the server running (the caller stops it later through `server`). */
  keep?: boolean;
  /** Called once the server is up, so the caller can stop it on Ctrl-C. */
  onServer?: (server: EmbeddedServer) => void;
  /** Called once the scratch directory exists, so the caller can remove it on Ctrl-C. */
  onWorkDir?: (dir: string) => void;
  /** Which sample the story runs on (default the CRM; `saas` for the SaaS fixture). */
  sample?: 'crm' | 'saas';
}

export interface DemoResult extends StoryResult {
  databaseUrl: string;
  server: EmbeddedServer;
  kept: boolean;
}

/** Starts an embedded PostgreSQL, creates `sales_crm` (or `saas`), runs the story; stops the server unless `keep`. */
export async function runDemo(options: DemoOptions = {}): Promise<DemoResult> {
  options.onStep?.({ name: 'start embedded PostgreSQL', phase: 'start' });
  const started = Date.now();
  const server = await startEmbeddedPostgres();
  options.onServer?.(server);
  const startStep = { name: 'start embedded PostgreSQL', ms: Date.now() - started, summary: `listening on 127.0.0.1:${server.port}`, exitCode: 0 };
  options.onStep?.({ name: startStep.name, phase: 'end', result: startStep });
  const workDir = await mkdtemp(path.join(os.tmpdir(), 'crm-tenancy-demo-'));
  options.onWorkDir?.(workDir);
  let keep = Boolean(options.keep);
  try {
    const admin = await connect({ databaseUrl: server.url, applicationName: 'crm-tenancy demo' });
    try {
      await admin.query(options.sample === 'saas' ? 'CREATE DATABASE saas' : 'CREATE DATABASE sales_crm');
    } finally {
      await admin.end();
    }
    const databaseUrl = server.url.replace(/\/postgres$/, options.sample === 'saas' ? '/saas' : '/sales_crm');
    const story = await runStory({ ...options, databaseUrl, workDir });
    return { ...story, steps: [startStep, ...story.steps], databaseUrl, server, kept: keep };
  } catch (error) {
    keep = false;
    throw error;
  } finally {
    await rm(workDir, { recursive: true, force: true }).catch(() => {});
    if (!keep) await server.stop();
  }
}
