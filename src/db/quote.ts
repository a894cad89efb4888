// The one place identifiers and DDL literals are quoted. Values in DML are always parameters.

/** PostgreSQL truncates identifiers longer than this many bytes (NAMEDATALEN - 1). */
export const MAX_IDENTIFIER_BYTES = 63;

/** Why a name cannot be used as an identifier, or undefined when it can. */
export function identifierProblem(name: unknown): string | undefined {
  if (typeof name !== 'string') return 'must be a string';
  if (name.length === 0) return 'must not be empty';
  if (name.includes('\u0000')) return 'must not contain a NUL character';
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes > MAX_IDENTIFIER_BYTES) {
    return `is ${bytes} bytes long; PostgreSQL identifiers hold at most ${MAX_IDENTIFIER_BYTES} bytes`;
  }
  return undefined;
}

/**
 * Quotes one identifier, always (even when quoting is not needed), doubling embedded quotes.
 *
 * @example ident('we"ird') // => "we""ird"
 */
export function ident(name: string): string {
  const problem = identifierProblem(name);
  if (problem) throw new TypeError(`invalid identifier ${JSON.stringify(name)}: ${problem}`);
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * Quotes each part and joins them with dots.
 *
 * @example qualified('public', 'deals') // => "public"."deals"
 */
export function qualified(...parts: string[]): string {
  return parts.map(ident).join('.');
}

/**
 * A string literal for DDL, where parameters are not allowed (policy expressions, defaults,
 * comments). Uses standard_conforming_strings quoting; rejects NUL.
 *
 * @example literal("it's") // => 'it''s'
 */
export function literal(value: string): string {
  if (value.includes('\u0000')) throw new TypeError('a literal must not contain a NUL character');
  return `'${value.replace(/'/g, "''")}'`;
}

/** A regclass-style display name (schema.table), for messages and reports; not for SQL. */
export function displayName(schema: string, name: string): string {
  return `${schema}.${name}`;
}
