// An audit a reviewer reads to the end (#14.3): the default table output fits in 200 lines with every error shown, on the sample CRM mid-rollout and on the SaaS fixture; --verbose shows all.
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runAudit } from '../../src/audit/runner.js';
import type { AuditResult, Finding } from '../../src/audit/types.js';
import { parseManifestText } from '../../src/config/manifest.js';
import { findColumn, findRelation, readCatalog } from '../../src/db/catalog.js';
import { ident, qualified } from '../../src/db/quote.js';
import { renderAudit } from '../../src/report/render-audit.js';
import { SAMPLE_MANIFEST } from '../../src/sample/sample-crm.js';
import { loadSampleSaas } from '../../src/sample/sample-saas.js';
import { runCli } from '../support/cli.js';
import { useTestDatabase, type TestDatabase } from '../support/database.js';

const MAX_LINES = 200;

/**
 * Reads the errors section of the default report back: which (check, subject) pairs it shows, and
 * the messages it prints one by one. Group entries (`<check> on N tables: <text>`) name their
 * tables on the indented lines below them.
 */
function shownErrors(text: string): { pairs: Set<string>; messages: string[] } {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => /^errors \(\d+, every one/.test(l));
  const pairs = new Set<string>();
  const messages: string[] = [];
  if (start < 0) return { pairs, messages };
  let group: string | undefined;
  let subject: string | undefined;
  let multi: string | undefined;
  for (const line of lines.slice(start + 1)) {
    if (line === '') break;
    const header = /^ {2}(\S+) on \d+ tables: /.exec(line);
    if (header) {
      [group, subject, multi] = [header[1], undefined, undefined];
      continue;
    }
    if (line.startsWith('      ') && group) {
      for (const name of line.trim().split(/,\s*/).filter(Boolean)) pairs.add(`${group} ${name}`);
      continue;
    }
    if (line.startsWith('      ') && multi && subject) {
      messages.push(line.trim());
      continue;
    }
    const one = /^ {4}(\S+): (.*)$/.exec(line);
    const many = /^ {4}(\S+) ×\d+:$/.exec(line);
    if (one && subject) {
      pairs.add(`${one[1]} ${subject}`);
      messages.push(one[2]);
      multi = undefined;
    } else if (many && subject) {
      pairs.add(`${many[1]} ${subject}`);
      multi = many[1];
    } else if (/^ {2}\S/.test(line)) {
      [subject, group, multi] = [line.trim(), undefined, undefined];
    }
  }
  return { pairs, messages };
}

/** The default table output, as the CLI prints it, and the typed result of the same audit. */
async function auditBoth(db: TestDatabase, manifestFile: string): Promise<{ text: string; result: AuditResult }> {
  const table = await runCli(['audit', '--database-url', db.url, '--config', manifestFile]);
  expect(table.stderr).not.toMatch(/error:/i);
  const manifest = parseManifestText(await readFile(manifestFile, 'utf8'), manifestFile);
  const result = await runAudit({ databaseUrl: db.url, manifest });
  expect(table.code).toBe(result.exitCode);
  return { text: table.stdout, result };
}

function expectReadable(text: string, result: AuditResult): void {
  const lines = text.trimEnd().split('\n');
  expect(lines.length).toBeLessThanOrEqual(MAX_LINES);
  const errors = result.findings.filter((f) => f.severity === 'error' && !f.waived);
  expect(errors.length).toBeGreaterThan(0);
  const shown = shownErrors(text);
  const subject = (f: Finding) => f.table ?? f.object ?? '(database)';
  // Every error: its check on its table, and its message (one by one, or as its group's text).
  for (const f of errors) {
    expect(shown.pairs.has(`${f.check} ${subject(f)}`), `${f.check} on ${subject(f)} is shown`).toBe(true);
    const alone = shown.messages.some((m) => m.includes(f.message));
    const grouped = f.table !== null && text.includes(`${f.check} on `) && text.includes(f.message.split(f.table).join('<table>'));
    expect(alone || grouped, `${f.check} on ${subject(f)}: ${f.message}`).toBe(true);
  }
  expect(shown.pairs.size).toBe(new Set(errors.map((f) => `${f.check} ${subject(f)}`)).size);
  // Ends with the one-screen summary: a row per check with findings.
  const summary = lines.findIndex((l) => l.startsWith('summary: '));
  expect(summary).toBeGreaterThan(0);
  expect(lines.length - summary).toBeLessThanOrEqual(40);
  for (const check of new Set(result.findings.filter((f) => !f.waived).map((f) => f.check))) {
    expect(lines.slice(summary).some((l) => new RegExp(`^  (error|warning|info) +${check} `).test(l)), check).toBe(true);
  }
  // --verbose (the table renderer's full form) shows every finding's message and the coverage matrix.
  const verbose = renderAudit(result, 'table', { verbose: true });
  for (const f of result.findings) expect(verbose).toContain(f.message);
  expect(verbose).toContain('coverage (. pass, E error, W warning, i info, ~ waived):');
  expect(text).not.toContain('coverage (. pass');
}

describe('the default audit output on the sample CRM mid-rollout', () => {
  const db = useTestDatabase({ sample: true });

  it('fits in 200 lines with every error shown, after the expand phase (tenant columns added, not yet filled)', async () => {
    const text = await readFile(SAMPLE_MANIFEST, 'utf8');
    const manifest = parseManifestText(text, SAMPLE_MANIFEST);
    const catalog = await readCatalog(db().client, [manifest.schema]);
    for (const t of manifest.tables) {
      const rel = findRelation(catalog, manifest.schema, t.name);
      if (rel && !findColumn(rel, manifest.tenant.column)) {
        await db().client.query(`ALTER TABLE ${qualified(manifest.schema, t.name)} ADD COLUMN ${ident(manifest.tenant.column)} integer`);
      }
    }
    const { text: out, result } = await auditBoth(db(), SAMPLE_MANIFEST);
    expect(result.findings.some((f) => f.check === 'null-tenant')).toBe(true);
    expectReadable(out, result);
  });
});

describe('the default audit output on the SaaS fixture', () => {
  const db = useTestDatabase();

  it("fits in 200 lines with every error shown, with init's manifest (reasons filled in)", async () => {
    await loadSampleSaas(db().client);
    const draft = await runCli(['init', '--database-url', db().url, '--stdout']);
    expect(draft.code).toBe(0);
    const filled = draft.stdout.replace(/"TODO: reason"/g, 'reviewed, holds no tenant rows');
    const dir = await mkdtemp(path.join(os.tmpdir(), 'crmt-readable-'));
    const file = path.join(dir, 'tenancy.yaml');
    await writeFile(file, filled, 'utf8');
    const { text, result } = await auditBoth(db(), file);
    expect(result.findings.filter((f) => f.severity === 'error').length).toBeGreaterThan(100);
    expect(result.findings.some((f) => f.check === 'unknown-tenant' && f.table === 'public.data_imports')).toBe(true);
    expectReadable(text, result);
  });
});
