// Loads the checks from audits/NNNN-<id>.sql: a header of `-- key: value` lines, then the SQL.
import { readdir, readFile } from 'node:fs/promises';
import { packagePath } from '../paths.js';
import type { CheckDefinition, CheckKind, Severity } from './types.js';

export const AUDITS_DIR = packagePath('audits');

/** Parses one check file. Data checks hold `-- @section` templates instead of one query. */
export function parseCheckFile(file: string, text: string): CheckDefinition {
  const header: Record<string, string> = {};
  const description: string[] = [];
  const body: string[] = [];
  const sections: Record<string, string> = {};
  let section: string | null = null;
  let inHeader = true;
  for (const line of text.split('\n')) {
    const meta = inHeader ? /^--\s*([a-z]+):\s*(.*)$/.exec(line) : null;
    if (meta) {
      header[meta[1]] = meta[2].trim();
      continue;
    }
    const marker = /^--\s*@([a-z_]+)\s*$/.exec(line);
    if (marker) {
      section = marker[1];
      sections[section] = '';
      inHeader = false;
      continue;
    }
    if (inHeader && line.startsWith('--')) {
      const text = line.replace(/^--\s?/, '');
      if (text.trim()) description.push(text.trim());
      continue;
    }
    inHeader = false;
    if (section) sections[section] += `${line}\n`;
    else body.push(line);
  }
  const id = header.id;
  const expected = /^\d{4}-(.+)\.sql$/.exec(file)?.[1];
  if (!id || id !== expected) throw new Error(`${file}: header "-- id:" must be ${expected}`);
  for (const key of ['title', 'severity', 'kind', 'remediation']) {
    if (!header[key]) throw new Error(`${file}: header "-- ${key}:" is missing`);
  }
  return {
    id,
    file: `audits/${file}`,
    title: header.title,
    severity: header.severity as Severity,
    kind: header.kind as CheckKind,
    remediation: header.remediation,
    description: description.join(' '),
    sql: body.join('\n').trim(),
    sections: Object.fromEntries(Object.entries(sections).map(([k, v]) => [k, v.trim()])),
    docs: `docs/checks/${id}.md`,
  };
}

let cache: Promise<CheckDefinition[]> | undefined;

/** Every check, in file order. */
export function loadChecks(dir: string = AUDITS_DIR): Promise<CheckDefinition[]> {
  if (dir !== AUDITS_DIR) return readChecks(dir);
  cache ??= readChecks(dir);
  return cache;
}

async function readChecks(dir: string): Promise<CheckDefinition[]> {
  const files = (await readdir(dir)).filter((f) => /^\d{4}-[a-z0-9-]+\.sql$/.test(f)).sort();
  return Promise.all(files.map(async (f) => parseCheckFile(f, await readFile(`${dir}/${f}`, 'utf8'))));
}
