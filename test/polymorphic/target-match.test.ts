// targetMatch means exactly `key::text = id::text` (checked on PostgreSQL over awkward values) while
// letting the target's key index serve the join; odd ids never raise a cast error.
import { describe, expect, it } from 'vitest';
import { targetMatch } from '../../src/audit/polymorphic-references.js';
import type { CatalogColumn } from '../../src/db/catalog.js';
import { useTestDatabase } from '../support/database.js';

const column = (name: string, type: string, typeOid: number): CatalogColumn => ({
  name, type, typeOid, position: 1, notNull: false, default: null, identity: false, generated: false,
});

const IDS = [
  '0', '7', '-7', '007', '+7', ' 7', '7 ', '-0', '32767', '32768', '-32768', '-32769', '2147483647', '2147483648',
  '9223372036854775807', '9223372036854775808', '-9223372036854775808', '99999999999999999999', '1e3', '7.0', '', 'abc',
  '00000000-0000-4000-8000-0000000000a1', '00000000-0000-4000-8000-0000000000A1', '{00000000-0000-4000-8000-0000000000a1}',
  '000000000000400080000000000000a1', 'x0000000-0000-4000-8000-0000000000a1',
];

describe('targetMatch', () => {
  const db = useTestDatabase();

  it.each([
    ['smallint', 21],
    ['integer', 23],
    ['bigint', 20],
    ['uuid', 2950],
    ['text', 25],
  ])('a %s key against a text id: same matches as the text comparison, no error', async (type, oid) => {
    const c = db().client;
    await c.query(`CREATE TEMP TABLE k (id ${type} PRIMARY KEY); CREATE TEMP TABLE r (n integer, id text)`);
    try {
      await c.query(`INSERT INTO r SELECT n, id FROM unnest($1::text[]) WITH ORDINALITY u(id, n)`, [IDS]);
      // Every id that is a valid value of the key type becomes a key row (PostgreSQL 15 has no pg_input_is_valid).
      await c.query(`DO $$ DECLARE v text; BEGIN
        FOR v IN SELECT id FROM r LOOP
          BEGIN INSERT INTO k VALUES (v::${type}) ON CONFLICT DO NOTHING; EXCEPTION WHEN others THEN NULL; END;
        END LOOP; END $$`);
      const match = targetMatch(column('id', type, oid), column('id', 'text', 25), 'p', 't');
      const viaMatch = await c.query(`SELECT t.n FROM r t JOIN k p ON ${match} ORDER BY 1`);
      const viaText = await c.query(`SELECT t.n FROM r t JOIN k p ON p.id::text = t.id ORDER BY 1`);
      expect(viaMatch.rows).toEqual(viaText.rows);
      expect(viaText.rows.length).toBeGreaterThan(0);
    } finally {
      await c.query(`DROP TABLE k, r`);
    }
  });

  it('uses the key index for a text id against a uuid or bigint key; same types compare directly', () => {
    expect(targetMatch(column('id', 'uuid', 2950), column('item_id', 'text', 25), 'p', 't')).toMatch(/^p\."id" = \(CASE WHEN t\."item_id" ~ /);
    expect(targetMatch(column('id', 'bigint', 20), column('item_id', 'character varying', 1043), 'p', 't')).toMatch(/^p\."id" = \(CASE WHEN t\."item_id"::text !~ /);
    expect(targetMatch(column('id', 'uuid', 2950), column('record_id', 'uuid', 2950), 'p', 't')).toBe('p."id" = t."record_id"');
    expect(targetMatch(column('id', 'integer', 23), column('record_id', 'bigint', 20), 'p', 't')).toBe('p."id" = t."record_id"');
  });
});
