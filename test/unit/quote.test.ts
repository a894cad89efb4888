import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ident, identifierProblem, literal, qualified } from '../../src/db/quote.js';

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
  it('produces a single well-formed quoted token for any string (property)', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 30 }).filter((s) => !s.includes('\u0000') && Buffer.byteLength(s) <= 63), (s) => {
        const q = ident(s);
        expect(q.startsWith('"') && q.endsWith('"')).toBe(true);
        // Undoing the quoting gives the name back: nothing can escape the quotes.
        expect(q.slice(1, -1).replace(/""/g, '"')).toBe(s);
        expect(q.slice(1, -1).replace(/""/g, '')).not.toContain('"');
      }),
    );
  });
});

describe('literal', () => {
  it('doubles single quotes', () => {
    expect(literal("it's")).toBe("'it''s'");
    expect(() => literal('\u0000')).toThrow();
  });
});
