// The checksum header of generated migration files: generate rewrites a pending file only while it matches.
import { createHash } from 'node:crypto';
import { META_PREFIX } from './migration-file.js';

export const CHECKSUM_PREFIX = '-- crm-tenancy-checksum: sha256:';
const CHECKSUM_NOTE = ' (generate rewrites this file while it is not yet run and matches; edit it and generate keeps it)';
const CHECKSUM_LINE = /^-- crm-tenancy-checksum: sha256:([0-9a-f]{64}).*\n/m;
/** The generation time in the header: not part of the content (regenerating the same file is no change). */
const GENERATED_AT = / on \d{4}-\d\d-\d\dT[\d:.]+Z/;

/** sha256 of a generated file's content: line endings normalised, checksum line and generation time left out. */
export function migrationChecksum(text: string): string {
  const content = text.replace(/\r\n/g, '\n').replace(CHECKSUM_LINE, '').replace(GENERATED_AT, '');
  return createHash('sha256').update(content, 'utf8').digest('hex');
}

/** The text with its checksum line, right after the crm-tenancy-meta line (or first when it has none). */
export function withChecksum(text: string): string {
  const line = `${CHECKSUM_PREFIX}${migrationChecksum(text)}${CHECKSUM_NOTE}`;
  const lines = text.split('\n');
  const meta = lines.findIndex((l) => l.startsWith(META_PREFIX));
  lines.splice(meta + 1, 0, line);
  return lines.join('\n');
}

/**
 * `pristine` when the file's checksum line matches its content (generate may rewrite it), `edited`
 * when it does not, `none` when it has no checksum line (hand-written, or generated before checksums).
 */
export function checksumState(text: string): { state: 'pristine' | 'edited' | 'none'; checksum?: string } {
  const m = CHECKSUM_LINE.exec(text.replace(/\r\n/g, '\n'));
  if (!m) return { state: 'none' };
  return { state: m[1] === migrationChecksum(text) ? 'pristine' : 'edited', checksum: m[1] };
}
