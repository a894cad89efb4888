// Names of the objects generate creates: readable, within PostgreSQL's 63 bytes, never clashing.
import { createHash } from 'node:crypto';
import { hasUnsafeCharacters, MAX_IDENTIFIER_BYTES } from '../db/quote.js';

/**
 * Names for new objects: `<table>_<columns>_<suffix>`, cut to 63 bytes with a hash when longer,
 * never clashing with an existing relation/constraint or with another planned name. Control
 * characters and line separators of catalog names (a column the manifest does not name) become `_`:
 * a name we make up never needs them.
 */
export class NameAllocator {
  private readonly taken = new Set<string>();
  constructor(existing: Iterable<string>) {
    for (const name of existing) this.taken.add(name);
  }
  allocate(parts: string[], suffix: string, preferred?: string): string {
    const base = preferred ?? fitIdentifier(plainParts(parts, suffix));
    let name = base;
    for (let i = 1; this.taken.has(name); i++) name = fitIdentifier(`${base}_${i}`, true);
    this.taken.add(name);
    return name;
  }
}

/** `<parts>_<suffix>` with control characters and line separators replaced by `_`. */
export function plainParts(parts: string[], suffix: string): string {
  return [...`${parts.join('_')}_${suffix}`].map((ch) => (hasUnsafeCharacters(ch) ? '_' : ch)).join('');
}

/** Cuts a name to 63 bytes (whole characters), adding a short hash of the full name when cut. */
export function fitIdentifier(name: string, forceHash = false): string {
  if (Buffer.byteLength(name, 'utf8') <= MAX_IDENTIFIER_BYTES && !forceHash) return name;
  const hash = createHash('sha1').update(name).digest('hex').slice(0, 8);
  let head = '';
  for (const ch of name) {
    if (Buffer.byteLength(head + ch, 'utf8') > MAX_IDENTIFIER_BYTES - 9) break;
    head += ch;
  }
  return `${head}_${hash}`;
}

