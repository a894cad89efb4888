// `crm-tenancy audit --since PREVIOUS.json` as CI runs it: the previous JSON report in, per-table incremental/full lines out, bad input exit 2.
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { useTestDatabase } from '../support/database.js';

let dir: string;
const manifestPath = () => path.join(dir, 'tenancy.yaml');

describe('crm-tenancy audit --since (CLI)', () => {
  const db = useTestDatabase({ sample: true });
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'crmt-audit-since-'));
    await writeFile(manifestPath(), await readFile('tenancy.yaml', 'utf8'));
  });
  const audit = (...args: string[]) => runCli(['audit', '--database-url', db().url, '--config', manifestPath(), ...args]);

  it('the JSON of one run feeds the next: same findings as a full audit, and per table incremental or full with the reason', async () => {
    const previous = path.join(dir, 'previous.json');
    expect((await audit('--format', 'json', '--output', previous)).code).toBe(1);
    const block = JSON.parse(await readFile(previous, 'utf8')).snapshot;
    expect(block).toMatchObject({ format: 1, system: expect.stringMatching(/^\d+$/), database: expect.stringMatching(/^\d+$/), xmin: expect.stringMatching(/^\d+$/) });
    await db().client.query(`UPDATE public.deals SET title = title WHERE id IN (SELECT id FROM public.deals ORDER BY id LIMIT 3)`);

    const since = await audit('--since', previous, '--format', 'json');
    const full = await audit('--format', 'json');
    expect(since.code).toBe(1);
    const findings = (out: string) => (JSON.parse(out).findings as { fingerprint: string; count: number; samples: unknown[] }[]).map((f) => [f.fingerprint, f.count, JSON.stringify(f.samples)]);
    expect(findings(since.stdout)).toEqual(findings(full.stdout));
    const tables = JSON.parse(since.stdout).incremental.tables as { table: string; mode: string; reasons: string[] }[];
    expect(tables.find((t) => t.table === 'public.phone_numbers')?.reasons.join('\n')).toMatch(/null-tenant: the previous audit had findings for this check/);
    expect(tables.some((t) => t.mode === 'incremental')).toBe(true);

    const text = await audit('--since', previous);
    expect(text.stdout).toContain(`since ${previous}:`);
    expect(text.stdout).toMatch(/public\.\w+\s+incremental \([\d,]+ changed rows?\)/);
    expect(text.stdout).toMatch(/public\.phone_numbers\s+full: .*null-tenant: the previous audit had findings for this check/);
  });

  it('a JSON without a snapshot block: every table full, saying so; an unreadable or non-JSON file: exit 2', async () => {
    const old = path.join(dir, 'old.json');
    await writeFile(old, JSON.stringify({ version: 1, findings: [] }));
    const r = await audit('--since', old);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`every data check in full: no previous JSON info: ${old} has no snapshot block`);

    const missing = await audit('--since', path.join(dir, 'nope.json'));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--since .*nope\.json: cannot read it/);
    const notJson = path.join(dir, 'bad.json');
    await writeFile(notJson, 'not json');
    const bad = await audit('--since', notJson);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--since .*bad\.json: not JSON/);
  });
});
