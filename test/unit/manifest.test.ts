import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LineCounter, parseDocument, Scalar } from 'yaml';
import { duplicateKeyProblems, parseManifest, parseManifestText, loadManifest, manifestProblems } from '../../src/config/manifest.js';
import { TenancyError } from '../../src/errors.js';

const valid = {
  tenant: { table: 'companies', key: 'id', column: 'company_id', setting: 'app.current_company_id' },
  roles: { app: ['crm_app'], bypass: { crm_support: 'support console, read-only' } },
  tables: { contacts: {}, deals: { backfill: ['contact_id', 'pipeline_id'] }, users: { unique: [['email']] }, twilio_settings: { singleton: true } },
  exempt: { audit_logs: 'system-wide security log' },
};

describe('manifest', () => {
  it('normalises the documented shape with defaults', () => {
    const m = parseManifest(valid);
    expect(m.schema).toBe('public');
    expect(m.stateSchema).toBe('crm_tenancy');
    expect(m.tenant.compositeKeys).toBe(false);
    expect(m.tables.map((t) => t.name)).toEqual(['contacts', 'deals', 'users', 'twilio_settings']);
    expect(m.tables[1].backfill).toEqual(['contact_id', 'pipeline_id']);
    expect(m.tables[3].singleton).toBe(true);
    expect(m.roles.bypass).toEqual([{ role: 'crm_support', reason: 'support console, read-only' }]);
    expect(m.exempt).toEqual([{ name: 'audit_logs', reason: 'system-wide security log' }]);
  });

  it('accepts a table with no settings written as null (`contacts:`)', () => {
    const m = parseManifestText(
      'tenant: {table: t, key: id, column: t_id, setting: app.t}\nroles: {app: [a]}\ntables:\n  contacts:\n',
    );
    expect(m.tables).toEqual([{ name: 'contacts', backfill: [], unique: [], singleton: false, sharedRows: false, polymorphic: [] }]);
  });

  it('lists every problem at once, each with its path', () => {
    const problems = manifestProblems({
      schema: 42,
      tenant: { table: 'companies', key: 'id', column: 'company_id', setting: 'no_dot', colour: 'x' },
      roles: { app: [] },
      tables: { deals: { backfill: 'contact_id', singelton: true }, audit_logs: {} },
      exempt: { audit_logs: '', sessions: null },
      extra: 1,
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        'schema: Invalid input: expected string, received number',
        'tenant.colour: unknown key',
        expect.stringMatching(/^tenant\.setting: must be a custom setting name/),
        'roles.app: list at least one application role',
        expect.stringMatching(/^tables\.deals\.backfill: /),
        'tables.deals.singelton: unknown key',
        expect.stringMatching(/^exempt\.audit_logs: needs a reason/),
        expect.stringMatching(/^exempt\.sessions: needs a reason/),
        'extra: unknown key',
        'tables.audit_logs: listed both as scoped and under exempt',
      ]),
    );
    expect(problems.length).toBeGreaterThanOrEqual(10);
  });

  it('rejects an empty table list (no false all-clear) and TODO reasons', () => {
    const problems = manifestProblems({ ...valid, tables: {}, exempt: { x: 'TODO: reason' } });
    expect(problems).toContainEqual(expect.stringMatching(/^tables: no scoped tables/));
    expect(problems).toContainEqual(expect.stringMatching(/^exempt\.x: needs a reason/));
  });

  it('rejects identifiers PostgreSQL would truncate', () => {
    const problems = manifestProblems({ ...valid, tables: { ['t'.repeat(64)]: {} } });
    expect(problems).toContainEqual(expect.stringMatching(/identifier is 64 bytes long/));
  });

  it('reports YAML syntax errors with line numbers, and duplicate keys', () => {
    try {
      parseManifestText('tenant:\n  table: a\n  table: b\n');
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(TenancyError);
      expect((error as TenancyError).problems.join('\n')).toMatch(/line 3/);
    }
  });

  it('names a missing file and suggests init', async () => {
    await expect(loadManifest('/nonexistent/tenancy.yaml')).rejects.toMatchObject({
      code: 'manifest',
      message: 'manifest /nonexistent/tenancy.yaml not found',
      exitCode: 2,
    });
  });

  it('the repository manifest (the sample CRM) is valid', async () => {
    const m = await loadManifest('tenancy.yaml');
    expect(m.tables).toHaveLength(27);
    expect(m.tenant.compositeKeys).toBe(true);
  });

  it('refuses names with control characters or line separators, showing them escaped', () => {
    const attack = 'notes\nDELETE FROM public.victim; --';
    const problems = manifestProblems({
      ...valid,
      schema: 'pub\rlic',
      tenant: { ...valid.tenant, column: 'company\u2028id' },
      roles: { app: ['crm\u0085app'], bypass: { 'x\ty': 'reason' } },
      tables: { [attack]: {}, deals: { backfill: ['a\u2029b'], unique: [['c\u007fd']] } },
      definer_functions: { 'f\u0000n': 'login lookup' },
    });
    for (const p of problems) expect(p).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/u);
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^schema: identifier contains a control character or line separator \(U\+000D\)/),
        expect.stringMatching(/^tenant\.column: identifier contains .*U\+2028/),
        expect.stringMatching(/^roles\.app\[0\]: identifier contains .*U\+0085/),
        expect.stringMatching(/^roles\.bypass\."x\\ty": identifier contains .*U\+0009/),
        'tables."notes\\nDELETE FROM public.victim; --": identifier contains a control character or line separator (U+000A); such names are refused',
        expect.stringMatching(/^tables\.deals\.backfill\[0\]: identifier contains .*U\+2029/),
        expect.stringMatching(/^tables\.deals\.unique\[0\]\[0\]: identifier contains .*U\+007F/),
        expect.stringMatching(/^definer_functions\."f\\u0000n": identifier must not contain a NUL/),
      ]),
    );
    // The same names without the control characters are fine (quotes, semicolons, unicode, `*/`, `--`).
    expect(
      manifestProblems({ ...valid, tables: { 'notes DELETE FROM public.victim; --': {}, 'a*/b"c\'d\\e': {}, 'ünï😀': {} } }),
    ).toEqual([]);
  });

  it('refuses the role names PostgreSQL reads as PUBLIC or reserves, even quoted', () => {
    const problems = manifestProblems({ ...valid, roles: { app: ['public'], bypass: { none: 'support' } } });
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^roles\.app\[0\]: is a reserved role name/),
        expect.stringMatching(/^roles\.bypass\.none: is a reserved role name/),
      ]),
    );
    expect(manifestProblems({ ...valid, roles: { app: ['PUBLIC', 'public_app'] } })).toEqual([]);
  });

  it('a manifest with a hostile name is a manifest error (exit 2) from YAML too', () => {
    const text = `tenant: {table: companies, key: id, column: company_id, setting: app.current_company_id}
roles: {app: [crm_app]}
tables:
  "notes\\nDELETE FROM public.victim; --": {}
`;
    expect(() => parseManifestText(text, 'tenancy.yaml')).toThrow(TenancyError);
    try {
      parseManifestText(text, 'tenancy.yaml');
    } catch (error) {
      expect(error).toMatchObject({ code: 'manifest', exitCode: 2 });
      expect((error as TenancyError).problems).toEqual([
        'tables."notes\\nDELETE FROM public.victim; --": identifier contains a control character or line separator (U+000A); such names are refused',
      ]);
    }
  });
});

describe('manifest duplicate keys (linear, same verdict as the yaml library)', () => {
  it('names the line of each repeated key, nested maps included', () => {
    const text = 'tenant:\n  table: a\n  key: id\n  table: b\ntables:\n  deals: {}\n  x: {backfill: [a], backfill: [b]}\n  deals: {}\n';
    const doc = parseDocument(text, { uniqueKeys: false });
    const lines = new LineCounter();
    parseDocument(text, { lineCounter: lines });
    expect(duplicateKeyProblems(doc, lines)).toEqual([
      'line 4, column 3: Map keys must be unique (table appears twice)',
      'line 7, column 22: Map keys must be unique (backfill appears twice)',
      'line 8, column 3: Map keys must be unique (deals appears twice)',
    ]);
  });

  it("finds exactly the duplicates the library's own (quadratic) check finds (property)", () => {
    const keyArb = fc.constantFrom('a', 'b', 'c', '"a"', "'b'", '1', '"1"', 'true', 'null', '~', '? x');
    fc.assert(
      fc.property(fc.array(fc.tuple(keyArb, fc.boolean()), { minLength: 1, maxLength: 8 }), (entries) => {
        const text = entries.map(([k, nested]) => (nested ? `${k}: {a: 1, a: 2}` : `${k}: 1`)).join('\n');
        const theirs = parseDocument(text, { uniqueKeys: true }).errors.filter((e) => e.code === 'DUPLICATE_KEY').length;
        const lines = new LineCounter();
        const doc = parseDocument(text, { uniqueKeys: false, lineCounter: lines });
        expect(duplicateKeyProblems(doc, lines)).toHaveLength(theirs);
      }),
    );
  });

  /** Reads of Scalar#value during fn: every key comparison reads two (a deterministic measure of work). */
  function scalarReads(fn: () => void): number {
    const proto = Scalar.prototype as unknown as Record<string, unknown>;
    const slot = Symbol('value');
    let reads = 0;
    Object.defineProperty(proto, 'value', {
      configurable: true,
      get(this: Record<symbol, unknown>) {
        reads++;
        return this[slot];
      },
      set(this: Record<symbol, unknown>, v: unknown) {
        this[slot] = v;
      },
    });
    try {
      fn();
    } finally {
      delete proto.value;
    }
    return reads;
  }
  const manifestWith = (keys: number, extra = ''): string => {
    const lines = ['tenant: {table: companies, key: id, column: company_id, setting: app.current_company_id}', 'roles: {app: [crm_app]}', 'tables:'];
    for (let i = 0; i < keys; i++) lines.push(`  t${i}: {}`);
    return `${lines.join('\n')}\n${extra}`;
  };

  it('parsing does work linear in the number of keys (4x the keys, not 16x the work)', () => {
    const small = scalarReads(() => parseManifestText(manifestWith(2_000)));
    const large = scalarReads(() => parseManifestText(manifestWith(8_000)));
    expect(small).toBeGreaterThan(2_000);
    expect(large / small).toBeLessThan(5);
    // The same for a one-line flow map full of duplicate keys (each one a problem).
    const flow = (keys: number) => manifestWith(1, `exempt: {${Array.from({ length: keys }, (_, i) => `x${i % 10}: r`).join(', ')}}\n`);
    const dupSmall = scalarReads(() => expect(() => parseManifestText(flow(2_000))).toThrow(TenancyError));
    const dupLarge = scalarReads(() => expect(() => parseManifestText(flow(8_000))).toThrow(TenancyError));
    expect(dupLarge / dupSmall).toBeLessThan(5);
    // The measure sees the quadratic check: the yaml library's own uniqueKeys does ~16x the work.
    const quadSmall = scalarReads(() => parseDocument(manifestWith(2_000), { uniqueKeys: true }));
    const quadLarge = scalarReads(() => parseDocument(manifestWith(8_000), { uniqueKeys: true }));
    expect(quadLarge / quadSmall).toBeGreaterThan(10);
  });

  it('a 100k-key manifest passes, and one with a duplicate at the end fails with its line (within the test timeout)', () => {
    expect(parseManifestText(manifestWith(100_000)).tables).toHaveLength(100_000);
    expect(() => parseManifestText(manifestWith(100_000, '  t5: {}\n'))).toThrow(
      expect.objectContaining({ problems: ['line 100004, column 3: Map keys must be unique (t5 appears twice)'] }),
    );
  });
});

