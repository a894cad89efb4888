import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { loadModule, parseSync } from 'libpg-query';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  commentJson,
  commentName,
  commentText,
  escapeText,
  hasUnsafeCharacters,
  ident,
  identifierProblem,
  inertSql,
  literal,
  qualified,
  regclassText,
  typeSql,
  unsafeNameProblem,
} from '../../src/db/quote.js';
import { shellCommand, shellQuote } from '../../src/shell-quote.js';

// Raw line terminators for PostgreSQL (\n, \r) and for JavaScript (also U+2028/U+2029), and the rest of C0/DEL/C1.
const RAW_BREAK = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/u;
const PIECES = ['\n', '\r', '\r\n', '*/', '/*', '--', '"', "'", '\\', ';', '\u2028', '\u2029', '\u0085', '\u007f', '\t', '$$', 'U&', "E'", 'é', '😀', '.', ' '];
const fitBytes = (s: string, max: number): string => {
  let out = '';
  for (const ch of s) {
    if (Buffer.byteLength(out + ch) > max) break;
    out += ch;
  }
  return out;
};
/** Hostile strings: pieces that end comments and quotes, plus any code point (no NUL), at most 63 bytes. */
const hostile = fc
  .array(fc.oneof(fc.constantFrom(...PIECES), fc.string({ unit: 'binary', maxLength: 3 })), { minLength: 1, maxLength: 10 })
  .map((parts) => fitBytes(parts.join('').replace(/\u0000/g, ''), 63))
  .filter((s) => s.length > 0);

/** The parse tree without positions. */
const tree = (sql: string): unknown => JSON.parse(JSON.stringify(parseSync(sql), (k, v) => (/location|stmt_len/.test(k) ? undefined : v)));

beforeAll(async () => {
  await loadModule();
});

describe('ident', () => {
  it('always quotes and doubles embedded quotes', () => {
    expect(ident('deals')).toBe('"deals"');
    expect(ident('we"ird')).toBe('"we""ird"');
    expect(qualified('my schema', 'a.b')).toBe('"my schema"."a.b"');
  });
  it('rejects empty, NUL and names over 63 bytes', () => {
    expect(() => ident('')).toThrow(/empty/);
    expect(() => ident('a\u0000b')).toThrow(/NUL/);
    expect(() => ident('é'.repeat(32))).toThrow(/64 bytes/);
    expect(identifierProblem('x'.repeat(63))).toBeUndefined();
  });
  it('spells a name with a line break as a Unicode-escape identifier', () => {
    expect(ident('notes\nDELETE FROM public.victim; --')).toBe('U&"notes\\000aDELETE FROM public.victim; --"');
    expect(ident('a\\b\u2028"c')).toBe('U&"a\\\\b\\2028""c"');
    expect(ident('a\\b')).toBe('"a\\b"');
  });
  it('produces one identifier token PostgreSQL reads back as the same name, with no raw line break (property)', () => {
    fc.assert(
      fc.property(hostile, hostile, (schema, name) => {
        const sql = `SELECT 1 FROM ${qualified(schema, name)}`;
        expect(sql).not.toMatch(RAW_BREAK);
        const stmts = (parseSync(sql) as { stmts: { stmt: { SelectStmt: { fromClause: { RangeVar: unknown }[] } } }[] }).stmts;
        expect(stmts).toHaveLength(1);
        expect(stmts[0].stmt.SelectStmt.fromClause[0].RangeVar).toMatchObject({ schemaname: schema, relname: name });
      }),
      { numRuns: 500 },
    );
  });
  it('regclassText keeps the plain double-quoted spelling to_regclass reads', () => {
    expect(regclassText('public', 'a\nb')).toBe('"public"."a\nb"');
    expect(regclassText('we"ird', 'x')).toBe('"we""ird"."x"');
  });
});

describe('literal', () => {
  it('doubles single quotes', () => {
    expect(literal("it's")).toBe("'it''s'");
    expect(() => literal('\u0000')).toThrow();
  });
  it('writes an escape string for a value with a line break', () => {
    expect(literal("a\nb'c\\")).toBe("E'a\\nb''c\\\\'");
    expect(literal('x\u2028\u0001')).toBe("E'x\\u2028\\x01'");
  });
  it('is one constant PostgreSQL reads back as the same value, with no raw line break (property)', () => {
    fc.assert(
      fc.property(hostile, (value) => {
        const sql = `SELECT ${literal(value)}, 2`;
        expect(sql).not.toMatch(RAW_BREAK);
        const target = (parseSync(sql) as any).stmts[0].stmt.SelectStmt.targetList;
        expect(target).toHaveLength(2);
        expect(target[0].ResTarget.val.A_Const.sval.sval).toBe(value);
      }),
      { numRuns: 500 },
    );
  });
});

describe('comment text', () => {
  it('prints plain names bare and others quoted with escapes', () => {
    expect(commentName('public', 'deals')).toBe('public.deals');
    expect(commentName('public', 'notes\nDELETE')).toBe('public."notes\\nDELETE"');
    expect(commentName('a*/b', 'c/*d')).toBe('"a*\\/b"."c/\\*d"');
    expect(commentText('line one\nline two */')).toBe('line one line two *\\/');
  });
  it('can end neither a line comment nor a block comment (property)', () => {
    fc.assert(
      fc.property(hostile, hostile, (a, b) => {
        for (const text of [commentName(a, b), commentText(`${a} ${b}`)]) {
          expect(text).not.toMatch(RAW_BREAK);
          expect(tree(`-- ${text}\nSELECT 1;`)).toEqual(tree('SELECT 1;'));
          expect(tree(`/* ${text} */ SELECT 1;`)).toEqual(tree('SELECT 1;'));
        }
      }),
      { numRuns: 500 },
    );
  });
  it('commentJson is one line of JSON that reads back the same', () => {
    fc.assert(
      fc.property(hostile, (s) => {
        const line = commentJson({ table: s });
        expect(line).not.toMatch(RAW_BREAK);
        expect(JSON.parse(line)).toEqual({ table: s });
      }),
    );
  });
  it('escapeText shows control characters as escapes', () => {
    expect(escapeText('a\nb\r\u2028\u0085')).toBe('a\\nb\\r\\u2028\\u0085');
    expect(hasUnsafeCharacters('a\u2029')).toBe(true);
    expect(hasUnsafeCharacters('ünïcödé "x"; --')).toBe(false);
    expect(unsafeNameProblem('a\nb')).toMatch(/U\+000A/);
    expect(unsafeNameProblem('a b')).toBeUndefined();
  });
});

describe('SQL PostgreSQL printed (kept policy expressions, format_type)', () => {
  it('inertSql re-spells quoted tokens with line breaks and keeps the same expression (property)', () => {
    fc.assert(
      fc.property(hostile, hostile, (column, value) => {
        const expr = `("${column.replace(/"/g, '""')}" <> '${value.replace(/'/g, "''")}'::text) AND (x = E'a\\\\${value.replace(/\\/g, '').replace(/'/g, "''")}')`;
        const out = inertSql(expr);
        expect(out).not.toMatch(RAW_BREAK);
        expect(tree(`SELECT ${out}`)).toEqual(tree(`SELECT ${expr}`));
      }),
      { numRuns: 300 },
    );
    expect(inertSql('(a = 1)')).toBe('(a = 1)');
  });
  it('typeSql re-spells quoted type names with line breaks', () => {
    expect(typeSql('integer')).toBe('integer');
    const spelled = typeSql('"my\ntype"[]');
    expect(spelled).toBe('U&"my\\000atype"[]');
    expect(tree(`SELECT 1::${spelled}`)).toEqual(tree('SELECT 1::"my\ntype"[]'));
  });
});

describe('shell quoting of suggested commands', () => {
  it('quotes what needs it, with the POSIX quote-in-quote form', () => {
    expect(shellQuote('deals')).toBe('deals');
    expect(shellQuote('semi;co"lon')).toBe(`'semi;co"lon'`);
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
    expect(shellQuote('a\nb')).toBe(`$'a\\nb'`);
    expect(shellCommand('crm-tenancy', 'backfill', '--table', 'semi;co"lon')).toBe(`crm-tenancy backfill --table 'semi;co"lon'`);
  });
  it('a real shell reads each quoted word back as exactly the argument (property)', () => {
    fc.assert(
      fc.property(fc.array(hostile, { minLength: 1, maxLength: 40 }), (args) => {
        // $'…' is bash's; every other form is POSIX and must also work in sh. One shell per batch of words.
        const posix = args.filter((a) => !shellQuote(a).startsWith("$'"));
        for (const [shell, batch] of [['sh', posix], ['bash', args]] as const) {
          if (batch.length === 0) continue;
          const words = batch.map(shellQuote).join(' ');
          const r = spawnSync(shell, ['-c', `printf '%s\\0' ${words}`], { encoding: 'utf8', env: { LC_ALL: 'C.UTF-8', PATH: process.env.PATH } });
          expect(r.status).toBe(0);
          expect(r.stdout.split('\0').slice(0, -1)).toEqual(batch);
        }
      }),
      { numRuns: 8 },
    );
  });
});
