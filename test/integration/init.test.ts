import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { draftManifest, renderDraft, yamlScalar } from '../../src/init/draft-manifest.js';
import { parseManifestText } from '../../src/config/manifest.js';
import { hasUnsafeCharacters, ident, qualified } from '../../src/db/quote.js';
import { TenancyError } from '../../src/errors.js';
import { resolveLiveContext } from '../../src/config/live-context.js';
import { useTestDatabase } from '../support/database.js';
import { createHostileSchema, createOrgSchema, HOSTILE } from '../fixtures/schemas.js';

describe('init drafts a manifest from the live catalog', () => {
  const db = useTestDatabase({ sample: true });

  it('finds the CRM tenant and classifies all tables, with backfill paths', async () => {
    const draft = await draftManifest(db().client);
    expect(draft).toMatchObject({ tenantTable: 'companies', tenantKey: 'id', tenantColumn: 'company_id', tenantType: 'integer' });
    const kinds = Object.fromEntries(draft.tables.map((t) => [t.name, t.classification]));
    // The three tables without company_id reach companies through foreign keys.
    expect(kinds.performance_alerts).toMatchObject({ kind: 'scoped', backfill: ['user_id'] });
    expect(kinds.email_campaigns).toMatchObject({ kind: 'scoped' });
    expect((kinds.email_campaigns as { backfill: string[] }).backfill.sort()).toEqual(['created_by', 'template_id']);
    expect(kinds.document_signatures).toMatchObject({ kind: 'scoped', backfill: ['document_id'] });
    expect(kinds.roles).toMatchObject({ kind: 'exempt' });
    expect(kinds.teams).toMatchObject({ kind: 'exempt' });
    // sessions references users: scoped by the FK graph (the repository manifest exempts it with a reason).
    expect(kinds.sessions).toMatchObject({ kind: 'scoped' });
    expect(draft.tables.filter((t) => t.classification.kind === 'scoped')).toHaveLength(28);
  });

  it('renders commented YAML that needs reasons before it validates', async () => {
    const text = renderDraft(await draftManifest(db().client));
    expect(text).toContain('# has column company_id');
    expect(text).toContain('# reaches companies through user_id → users');
    expect(() => parseManifestText(text)).toThrow(/problem/);
    // Once the DBA writes the reasons, the draft is a valid manifest for this database.
    const filled = text.replaceAll('"TODO: reason"', 'global lookup').replace(/app: \[app_user\].*/, 'app: [crm_app]');
    const manifest = parseManifestText(filled);
    await expect(resolveLiveContext(db().client, manifest)).resolves.toMatchObject({ tenantType: 'integer' });
  });

  it('drafts organizations/org_id (uuid) on a schema it has never seen', async () => {
    await createOrgSchema(db().client, 'saas');
    const draft = await draftManifest(db().client, { schema: 'saas' });
    expect(draft).toMatchObject({ tenantTable: 'organizations', tenantColumn: 'org_id', tenantType: 'uuid', setting: 'app.current_org_id' });
    const kinds = Object.fromEntries(draft.tables.map((t) => [t.name, t.classification]));
    expect(kinds.comments).toMatchObject({ kind: 'scoped', backfill: ['task_id'] });
    expect(kinds.tasks).toMatchObject({ kind: 'scoped', backfill: ['project_id'] });
    // projects.org_id is NOT NULL already: nothing to backfill, so no backfill list.
    expect(kinds.projects).toMatchObject({ kind: 'scoped', backfill: [], tenantNotNull: true });
    expect(kinds.countries).toMatchObject({ kind: 'exempt' });
    expect(kinds.feature_flags).toMatchObject({ kind: 'exempt' });
  });

  it('round-trips hostile identifiers (quotes, dots, semicolons, unicode, 63 bytes)', async () => {
    await createHostileSchema(db().client);
    const draft = await draftManifest(db().client, { schema: HOSTILE.schema });
    expect(draft).toMatchObject({ tenantTable: HOSTILE.tenant, tenantColumn: HOSTILE.tenantColumn, tenantType: 'bigint' });
    const text = renderDraft(draft);
    const raw = parse(text);
    expect(Object.keys(raw.tables).sort()).toEqual([HOSTILE.child, HOSTILE.grandchild].sort());
    expect(raw.tables[HOSTILE.grandchild]).toEqual({ backfill: ['client_id'] });
    const manifest = parseManifestText(text.replaceAll('"TODO: reason"', 'lookup').replace(/app: \[app_user\].*/, 'app: [x]'));
    const live = await resolveLiveContext(db().client, manifest);
    expect(live.tenantTable.name).toBe(HOSTILE.tenant);
  });

  it('honours --tenant-table and --tenant-column', async () => {
    const draft = await draftManifest(db().client, { tenantTable: 'users', tenantColumn: 'owner_id' });
    expect(draft.tenantTable).toBe('users');
    expect(draft.tenantColumn).toBe('owner_id');
  });

  // Names as hostile as PostgreSQL allows: line breaks (\n, \r, U+2028), comment and quote markers,
  // YAML indicators, unicode, up to 63 bytes. Each holds at least one such piece.
  const PIECES = ['\n', '\r\n', '\u2028', '\u0085', '\t', '*/', '/*', '--', '#', ': ', '- ', '"', "'", '\\', ';', '{', '[', ',', '&a', '*a', '!x', '%', '@', '`', '|', '>', '?', 'é', '😀'];
  const fit = (s: string): string => {
    let out = '';
    for (const ch of s) if (Buffer.byteLength(out + ch) <= 63) out += ch;
    return out;
  };
  const hostileName = fc
    .tuple(fc.constantFrom(...PIECES), fc.array(fc.oneof(fc.constantFrom(...PIECES), fc.string({ unit: 'binary', maxLength: 4 })), { maxLength: 8 }), fc.boolean())
    .map(([piece, rest, long]) => {
      const name = [...rest.slice(0, 2), piece, ...rest.slice(2)].join('').replace(/\u0000/g, '');
      return fit(long ? name + 'x'.repeat(63) : name);
    });

  it('writes YAML that reads back exactly the same names, for any name PostgreSQL allows (property)', async () => {
    const client = db().client;
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(hostileName, { minLength: 7, maxLength: 7 }), async ([tenant, key, column, child, grandchild, fk, exempt]) => {
        const schema = `init_prop_${run++}`;
        await client.query(`CREATE SCHEMA ${ident(schema)}`);
        try {
          const q = (name: string) => qualified(schema, name);
          await client.query(`CREATE TABLE ${q(tenant)} (${ident(key)} bigint PRIMARY KEY)`);
          await client.query(`CREATE TABLE ${q(child)} (id bigint PRIMARY KEY, ${ident(column)} bigint REFERENCES ${q(tenant)} (${ident(key)}))`);
          await client.query(`CREATE TABLE ${q(grandchild)} (id bigint PRIMARY KEY, ${ident(fk)} bigint REFERENCES ${q(child)} (id))`);
          await client.query(`CREATE TABLE ${q(exempt)} (id bigint PRIMARY KEY)`);
          const draft = await draftManifest(client, { schema, tenantTable: tenant, tenantColumn: column });
          const text = renderDraft(draft);
          // Every name is one scalar on one line: the YAML has the draft's shape and gives every name back.
          expect(parse(text)).toEqual({
            schema,
            tenant: { table: tenant, key, column, setting: draft.setting, composite_keys: true },
            roles: { app: ['app_user'] },
            tables: { [child]: {}, [grandchild]: { backfill: [fk] } },
            exempt: { [exempt]: 'TODO: reason' },
          });
          expect(text).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029]/u);
          // Loaded as a manifest: fine, or refused (exit 2) for names with control characters, shown escaped.
          const filled = text.replace('"TODO: reason"', 'lookup');
          const unsafe = [tenant, key, column, child, grandchild, fk, exempt].filter(hasUnsafeCharacters);
          if (unsafe.length === 0) {
            // (In the draft's order, which follows the catalog's collation: compared as a set.)
            expect(parseManifestText(filled).tables.map((t) => t.name).sort()).toEqual([child, grandchild].sort());
          } else {
            let error: unknown;
            try {
              parseManifestText(filled);
            } catch (e) {
              error = e;
            }
            expect(error).toBeInstanceOf(TenancyError);
            expect(error).toMatchObject({ code: 'manifest', exitCode: 2 });
            const problems = (error as TenancyError).problems;
            expect(problems.length).toBeGreaterThanOrEqual(1);
            for (const p of problems) expect(hasUnsafeCharacters(p)).toBe(false);
          }
        } finally {
          await client.query(`DROP SCHEMA ${ident(schema)} CASCADE`);
        }
      }),
      { numRuns: 25 },
    );
  });

  it('yamlScalar writes one line that YAML reads back, as a key, a value and a flow item (property)', () => {
    fc.assert(
      fc.property(hostileName, (name) => {
        const s = yamlScalar(name);
        expect(s).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/u);
        expect(parse(`${s}: [${s}, ${s}]\nk: ${s}  # note`)).toEqual({ [name]: [name, name], k: name });
      }),
      // Always tried: names ending in a Unicode blank a trim would drop (CI found "re\u2028").
      { numRuns: 500, examples: [['re\u2028'], ['deals\u00a0'], ['a\u3000'], ['re ']] },
    );
  });
});

