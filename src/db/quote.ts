// The one place names and DDL literals are made inert in SQL text (statements and comments). Values in DML are parameters.

/** PostgreSQL truncates identifiers longer than this many bytes (NAMEDATALEN - 1). */
export const MAX_IDENTIFIER_BYTES = 63;

/**
 * Characters never printed raw into SQL text: control characters (C0, DEL, C1), among them \n and \r,
 * which end a `--` comment, and U+2028/U+2029, which end a line for JavaScript (`^` in a multiline
 * RegExp, as migration files are split) and for some editors. Inside a quoted identifier they are
 * harmless to PostgreSQL, but a reader of the file (or of `migrate --dry-run`) would see a new line.
 */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/u;
const UNSAFE_ALL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/gu;
const SHORT_ESCAPES: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

const hex4 = (ch: string): string => ch.codePointAt(0)!.toString(16).padStart(4, '0');

/** Whether a text holds a character that must never appear raw in SQL text (see UNSAFE). */
export function hasUnsafeCharacters(text: string): boolean {
  return UNSAFE.test(text);
}

/**
 * The text with every unsafe character written as an escape (`\n`, `\r`, `\t`, `\u2028`…): for
 * messages and comments, never for SQL that runs.
 *
 * @example escapeText('notes\nDELETE') // => 'notes\\nDELETE'
 */
export function escapeText(text: string): string {
  return text.replace(UNSAFE_ALL, (ch) => SHORT_ESCAPES[ch] ?? `\\u${hex4(ch)}`);
}

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
 * Why a name the manifest declares is refused (a control character or line separator), or undefined.
 * The catalog may hold such names; the manifest never names them, so no command is ever pointed at one.
 */
export function unsafeNameProblem(name: string): string | undefined {
  const ch = UNSAFE.exec(name)?.[0];
  if (ch === undefined) return undefined;
  return `contains a control character or line separator (U+${hex4(ch).toUpperCase()}); such names are refused`;
}

/**
 * Quotes one identifier, always (even when quoting is not needed), doubling embedded quotes. A name
 * holding an unsafe character (newline, other control characters, U+2028/U+2029) is spelled as a
 * Unicode-escape identifier, `U&"…"`, so the SQL text never contains a raw line break (PostgreSQL
 * reads it as the same name; escapes of characters above U+007F need a UTF8 server encoding).
 *
 * @example ident('we"ird') // => "we""ird"
 * @example ident('a\nb')   // => U&"a\000ab"
 */
export function ident(name: string): string {
  const problem = identifierProblem(name);
  if (problem) throw new TypeError(`invalid identifier ${JSON.stringify(name)}: ${problem}`);
  if (!UNSAFE.test(name)) return `"${name.replace(/"/g, '""')}"`;
  let body = '';
  for (const ch of name) {
    if (ch === '"') body += '""';
    else if (ch === '\\') body += '\\\\';
    else body += UNSAFE.test(ch) ? `\\${hex4(ch)}` : ch;
  }
  return `U&"${body}"`;
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
 * A type as format_type() prints it (`integer`, `character varying(20)`, `"My type"[]`), for SQL text:
 * PostgreSQL already quotes the names in it; quoted names holding unsafe characters are re-spelled
 * with `ident` so no raw line break reaches the text.
 *
 * @example typeSql('"my\ntype"') // => U&"my\000atype"
 */
export function typeSql(formatted: string): string {
  if (!UNSAFE.test(formatted)) return formatted;
  return formatted.replace(/"((?:[^"]|"")*)"/g, (_, inner: string) => ident(inner.replace(/""/g, '"')));
}

/**
 * SQL text PostgreSQL printed (pg_get_expr of a policy kept as it was) with every quoted identifier
 * and string literal that holds an unsafe character re-spelled by `ident` / `literal`: the same SQL,
 * with no raw line break inside a token. Text outside quotes is left as it is.
 */
export function inertSql(text: string): string {
  if (!UNSAFE.test(text)) return text;
  let out = '';
  let i = 0;
  while (i < text.length) {
    const ch = text[i];
    if (ch !== '"' && ch !== "'") {
      out += ch;
      i++;
      continue;
    }
    const escapes = ch === "'" && /[eE]/.test(text[i - 1] ?? '') && !/[\w$]/.test(text[i - 2] ?? '');
    let value = '';
    let j = i + 1;
    for (; j < text.length; j++) {
      if (escapes && text[j] === '\\') {
        value += text[j] + (text[j + 1] ?? '');
        j++;
      } else if (text[j] === ch && text[j + 1] === ch) {
        value += ch;
        j++;
      } else if (text[j] === ch) break;
      else value += text[j];
    }
    const token = text.slice(i, j + 1);
    if (!UNSAFE.test(token)) out += token;
    else if (ch === '"') out += ident(value);
    // An escape string already reads backslash escapes: spell the raw characters as escapes.
    else if (escapes) out += `'${value.replace(/'/g, "''").replace(UNSAFE_ALL, (c) => SHORT_ESCAPES[c] ?? `\\u${hex4(c)}`)}'`;
    else out += literal(value);
    i = j + 1;
  }
  return out;
}

/**
 * The text `to_regclass()` / `::regclass` reads (each part in plain double quotes, never `U&`), for a
 * parameter or, through `literal`, for DDL. Not SQL by itself.
 *
 * @example regclassText('public', 'deals') // => "public"."deals"
 */
export function regclassText(...parts: string[]): string {
  return parts
    .map((part) => {
      const problem = identifierProblem(part);
      if (problem) throw new TypeError(`invalid identifier ${JSON.stringify(part)}: ${problem}`);
      return `"${part.replace(/"/g, '""')}"`;
    })
    .join('.');
}

/**
 * A string literal for DDL, where parameters are not allowed (policy expressions, defaults,
 * comments). Uses standard_conforming_strings quoting; a value holding an unsafe character is
 * written as an escape string (`E'…'`) so no raw line break reaches the text. Rejects NUL.
 *
 * @example literal("it's")  // => 'it''s'
 * @example literal('a\nb')  // => E'a\nb' (backslash-n, not a line break)
 */
export function literal(value: string): string {
  if (value.includes('\u0000')) throw new TypeError('a literal must not contain a NUL character');
  if (!UNSAFE.test(value)) return `'${value.replace(/'/g, "''")}'`;
  let body = '';
  for (const ch of value) {
    if (ch === "'") body += "''";
    else if (ch === '\\') body += '\\\\';
    else if (UNSAFE.test(ch)) body += SHORT_ESCAPES[ch] ?? (ch <= '\u007f' ? `\\x${hex4(ch).slice(2)}` : `\\u${hex4(ch)}`);
    else body += ch;
  }
  return `E'${body}'`;
}

const PLAIN_NAME = /^[a-z_][a-z0-9_$]*$/;

/** Breaks up the comment delimiters (star-slash, slash-star) so no text can end or open a block comment. */
function breakCommentDelimiters(text: string): string {
  return text.replace(/\*\//g, '*\\/').replace(/\/\*/g, '/\\*');
}

/**
 * A name as comments and messages print it: bare when plain (`public.deals`), else double-quoted
 * with unsafe characters escaped and comment delimiters broken up, so it can end neither a `--`
 * line comment nor a block comment, and reads unambiguously.
 *
 * @example commentName('public', 'deals')   // => public.deals
 * @example commentName('public', 'a\nDROP') // => public."a\nDROP" (backslash-n, not a line break)
 */
export function commentName(...parts: string[]): string {
  return parts
    .map((part) => (PLAIN_NAME.test(part) ? part : `"${breakCommentDelimiters(escapeText(part)).replace(/"/g, '""')}"`))
    .join('.');
}

/**
 * Free text (a reason, a message) made safe for one comment line: line breaks become spaces, other
 * unsafe characters escapes, and comment delimiters are broken up.
 */
export function commentText(text: string): string {
  return breakCommentDelimiters(escapeText(text.replace(/\r\n|[\r\n]/g, ' ')));
}

/**
 * JSON for one comment line (a machine-readable header): JSON.stringify leaves U+2028/U+2029 and
 * DEL/C1 raw, which would start a new line for JavaScript readers; they are written as \u escapes.
 */
export function commentJson(value: unknown): string {
  return JSON.stringify(value).replace(/[\u007f-\u009f\u2028\u2029]/gu, (ch) => `\\u${hex4(ch)}`);
}

/** A regclass-style display name (schema.table), for messages and reports; not for SQL. Unsafe characters are escaped. */
export function displayName(schema: string, name: string): string {
  return `${escapeText(schema)}.${escapeText(name)}`;
}
