// Loads the checks from audits/NNNN-<id>.sql: a header of `-- key: value` lines, then the SQL.
import { readdir, readFile } from 'node:fs/promises';
import { TenancyError } from '../errors.js';
import { packagePath } from '../paths.js';
import { CHECK_KINDS, CHECK_TARGETS, SEVERITIES, type CheckDefinition, type CheckKind, type CheckTarget, type Severity } from './types.js';

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
  const problems = headerProblems(file, header);
  if ((header.kind === 'catalog' || header.kind === 'policy') && body.join('').trim() === '') problems.push(`${file}: a ${header.kind} check needs its SQL`);
  if (problems.length > 0) {
    // A check file of the package itself is broken: nothing the user can fix, and no check may be dropped silently.
    throw new TenancyError('internal', `check file audits/${file} has an invalid header`, { problems });
  }
  const id = header.id;
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
    ...(header.target ? { target: header.target as CheckTarget } : {}),
  };
}

const ID_FROM_FILE = /^\d{4}-([a-z0-9]+(?:-[a-z0-9]+)*)\.sql$/;

/** Every problem of a header at once: id matching the file name, title, remediation, a known severity and kind. */
function headerProblems(file: string, header: Record<string, string>): string[] {
  const problems: string[] = [];
  const expected = ID_FROM_FILE.exec(file)?.[1];
  if (!expected) problems.push(`${file}: the file name must be NNNN-<kebab-case id>.sql`);
  else if (header.id !== expected) problems.push(`${file}: header "-- id:" must be ${expected}${header.id ? `, not ${header.id}` : ''}`);
  for (const key of ['title', 'severity', 'kind', 'remediation']) {
    if (!header[key]) problems.push(`${file}: header "-- ${key}:" is missing`);
  }
  if (header.severity && !(SEVERITIES as readonly string[]).includes(header.severity)) {
    problems.push(`${file}: severity ${header.severity} is not one of ${SEVERITIES.join(', ')}`);
  }
  if (header.kind && !(CHECK_KINDS as readonly string[]).includes(header.kind)) {
    problems.push(`${file}: kind ${header.kind} is not one of ${CHECK_KINDS.join(', ')}`);
  }
  if (header.target !== undefined && !(CHECK_TARGETS as readonly string[]).includes(header.target)) {
    problems.push(`${file}: target ${header.target} is not one of ${CHECK_TARGETS.join(', ')}`);
  }
  return problems;
}

let cache: Promise<CheckDefinition[]> | undefined;

/** Every check, in file order. */
export function loadChecks(dir: string = AUDITS_DIR): Promise<CheckDefinition[]> {
  if (dir !== AUDITS_DIR) return readChecks(dir);
  cache ??= readChecks(dir);
  return cache;
}

async function readChecks(dir: string): Promise<CheckDefinition[]> {
  // Every .sql file is a check: one with a malformed name fails loudly rather than being left out.
  const files = (await readdir(dir)).filter((f) => f.endsWith('.sql')).sort();
  const checks = await Promise.all(files.map(async (f) => parseCheckFile(f, await readFile(`${dir}/${f}`, 'utf8'))));
  const seen = new Set<string>();
  for (const c of checks) {
    if (seen.has(c.id)) throw new TenancyError('internal', `two check files have the id ${c.id}`, { hint: 'check ids are stable and unique: renumber or rename one' });
    seen.add(c.id);
  }
  return checks;
}
