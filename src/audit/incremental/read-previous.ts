// Reads the PREVIOUS.json of `audit --since`: the snapshot block of an earlier `audit --format json`.
import { readFile } from 'node:fs/promises';
import { TenancyError } from '../../errors.js';
import type { AuditSnapshot, PreviousAudit } from './types.js';

const isText = (v: unknown): v is string => typeof v === 'string';

/** The snapshot block when it has the shape this version writes, else why not (the run then re-checks in full). */
export function previousFromJson(file: string, json: unknown): PreviousAudit {
  const block = (json as { snapshot?: unknown } | null)?.snapshot as Partial<AuditSnapshot> | undefined;
  if (!block || typeof block !== 'object') return { file, snapshot: null, problem: `no previous JSON info: ${file} has no snapshot block (not an \`audit --format json\` report of this version)` };
  const ok =
    block.format === 1 &&
    [block.system, block.database, block.lsn, block.xmin, block.xmax, block.global].every(isText) &&
    /^\d+$/.test(block.xmin!) &&
    /^\d+$/.test(block.xmax!) &&
    /^[0-9A-F]+\/[0-9A-F]+$/i.test(block.lsn!) &&
    typeof block.timeline === 'number' &&
    Array.isArray(block.xip) &&
    typeof block.tables === 'object' &&
    block.tables !== null &&
    Array.isArray(block.units);
  if (!ok) return { file, snapshot: null, problem: `${file}: its snapshot block is not of the format this version reads` };
  return { file, snapshot: block as AuditSnapshot };
}

/** Reads and parses the file; unreadable or not JSON: exit 2. */
export async function readPrevious(file: string): Promise<PreviousAudit> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new TenancyError('usage', `--since ${file}: cannot read it (${(error as Error).message})`, { hint: 'pass the JSON report of an earlier `crm-tenancy audit --format json`' });
  }
  try {
    return previousFromJson(file, JSON.parse(text));
  } catch (error) {
    throw new TenancyError('usage', `--since ${file}: not JSON (${(error as Error).message})`, { hint: 'pass the JSON report of an earlier `crm-tenancy audit --format json`' });
  }
}
