// Waivers (per check and object, with a reason and an expiry) and baselines (accepted fingerprints).
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { TenancyError } from '../errors.js';
import type { Finding, Waiver } from './types.js';

/**
 * Validates a parsed waivers document (a list, or `{ waivers: [...] }`), reporting every problem
 * at once (exit 2). `object: '*'` is refused: a waiver names one table, role, view or function.
 */
export function validateWaivers(input: unknown, source = 'waivers', knownChecks?: readonly string[]): Waiver[] {
  const list = Array.isArray(input) ? input : (input as { waivers?: unknown })?.waivers;
  if (!Array.isArray(list)) {
    throw new TenancyError('usage', `${source}: expected a list of {check, object, reason, expires}`);
  }
  const problems: string[] = [];
  const waivers: Waiver[] = [];
  list.forEach((raw, i) => {
    const at = `${source}[${i}]`;
    const w = (raw ?? {}) as Record<string, unknown>;
    for (const key of Object.keys(w)) {
      if (!['check', 'object', 'reason', 'expires'].includes(key)) problems.push(`${at}.${key}: unknown key`);
    }
    if (typeof w.check !== 'string' || !w.check) problems.push(`${at}.check: is required`);
    else if (knownChecks && !knownChecks.includes(w.check)) problems.push(`${at}.check: unknown check ${w.check}`);
    if (typeof w.object !== 'string' || !w.object) problems.push(`${at}.object: is required (a table, role, view or function name)`);
    else if (w.object.includes('*')) problems.push(`${at}.object: wildcards are not allowed; name one object`);
    if (typeof w.reason !== 'string' || !w.reason.trim()) problems.push(`${at}.reason: is required`);
    let expires: string | undefined;
    if (w.expires !== undefined) {
      const d = w.expires instanceof Date ? w.expires : new Date(String(w.expires));
      if (Number.isNaN(d.getTime())) problems.push(`${at}.expires: not a date (YYYY-MM-DD)`);
      else expires = d.toISOString().slice(0, 10);
    }
    waivers.push({ check: String(w.check), object: String(w.object), reason: String(w.reason ?? ''), ...(expires ? { expires } : {}) });
  });
  if (problems.length > 0) {
    throw new TenancyError('usage', `${source}: ${problems.length} problem${problems.length === 1 ? '' : 's'}`, { problems });
  }
  return waivers;
}

/** Reads a waivers file (YAML or JSON). */
export async function loadWaivers(file: string, knownChecks?: readonly string[]): Promise<Waiver[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new TenancyError('io', `cannot read waivers file ${file}`, { cause: error });
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (error) {
    throw new TenancyError('usage', `${file}: not valid YAML or JSON: ${(error as Error).message}`);
  }
  return validateWaivers(doc ?? [], file, knownChecks);
}

/** Reads a baseline file: a JSON audit result, or a list of fingerprints. */
export async function loadBaseline(file: string): Promise<string[]> {
  let doc: unknown;
  try {
    doc = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw new TenancyError('usage', `cannot read baseline ${file}: ${(error as Error).message}`, { cause: error });
  }
  const list = Array.isArray(doc) ? doc : (doc as { fingerprints?: unknown; findings?: { fingerprint?: unknown }[] });
  if (Array.isArray(list)) return list.map(String);
  if (Array.isArray(list.fingerprints)) return list.fingerprints.map(String);
  if (Array.isArray(list.findings)) return list.findings.map((f) => String(f.fingerprint));
  throw new TenancyError('usage', `baseline ${file}: expected {"fingerprints": [...]} or an audit JSON result`);
}

/** True when the waiver names this finding: its object, its table (qualified or bare). */
export function waiverMatches(w: Waiver, f: Finding): boolean {
  if (w.check !== f.check) return false;
  const names = [f.object, f.table, f.table?.slice(f.table.indexOf('.') + 1)].filter((x): x is string => !!x);
  return names.includes(w.object);
}

/**
 * Marks findings waived (live waivers) or accepted (baseline); returns the waivers that matched
 * nothing and those that expired (expired ones never waive).
 */
export function applyWaivers(
  findings: Finding[],
  waivers: readonly Waiver[],
  baseline: readonly string[],
  today: string = new Date().toISOString().slice(0, 10),
): { findings: Finding[]; unused: Waiver[]; expired: Waiver[] } {
  const expired = waivers.filter((w) => w.expires !== undefined && w.expires < today);
  const live = waivers.filter((w) => !expired.includes(w));
  const used = new Set<Waiver>();
  const accepted = new Set(baseline);
  const out = findings.map((f) => {
    const w = live.find((x) => waiverMatches(x, f));
    if (w) {
      used.add(w);
      return { ...f, waived: { by: 'waiver' as const, reason: w.reason, ...(w.expires ? { expires: w.expires } : {}) } };
    }
    if (accepted.has(f.fingerprint)) return { ...f, waived: { by: 'baseline' as const, reason: 'recorded in the baseline' } };
    return f;
  });
  return { findings: out, unused: live.filter((w) => !used.has(w)), expired };
}
