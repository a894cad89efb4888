// Property: over random sequences of writes (inserts, updates of FKs and tenants, deletes, tenant deletes, VACUUM FREEZE / FULL),
// `audit --since` (chained: each run from the previous run's JSON) finds exactly what a full audit finds.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AuditResult } from '../../src/audit/types.js';
import { useTestDatabase } from '../support/database.js';
import { asPrevious, audit, SCHEMA_SQL, view } from './fixture.js';

const tenant = fc.constantFrom<number | null>(1, 2, 3, 4, 99, null);
const contact = fc.integer({ min: 1, max: 70 });
const op = fc.oneof(
  fc.tuple(contact, tenant, fc.integer({ min: 1, max: 8 })).map(([id, t, e]) => `INSERT INTO inc.contacts VALUES (${id + 100}, ${t}, 'x${e}')`),
  fc.tuple(contact, tenant).map(([id, t]) => `UPDATE inc.contacts SET company_id = ${t} WHERE id = ${id}`),
  fc.tuple(contact, fc.integer({ min: 1, max: 8 })).map(([id, e]) => `UPDATE inc.contacts SET email = 'e${e}' WHERE id = ${id}`),
  contact.map((id) => `DELETE FROM inc.contacts WHERE id = ${id}`),
  fc.tuple(fc.integer({ min: 1, max: 150 }), contact, tenant).map(([id, c, t]) => `INSERT INTO inc.deals VALUES (${id + 200}, ${t}, ${c})`),
  fc.tuple(fc.integer({ min: 1, max: 120 }), contact).map(([id, c]) => `UPDATE inc.deals SET contact_id = ${c} WHERE id = ${id}`),
  fc.tuple(fc.integer({ min: 1, max: 120 }), tenant).map(([id, t]) => `UPDATE inc.deals SET company_id = ${t} WHERE id = ${id}`),
  fc
    .tuple(fc.integer({ min: 1, max: 50 }), fc.constantFrom('Contact', 'Deal', 'Bogus'), fc.integer({ min: 1, max: 120 }), tenant)
    .map(([id, type, item, t]) => `INSERT INTO inc.notes VALUES (${id + 100}, ${t}, '${type}', '${item}')`),
  fc.tuple(fc.integer({ min: 1, max: 9 }), tenant).map(([id, t]) => `UPDATE inc.tasks SET company_id = ${t} WHERE id = ${id}`),
  fc.constantFrom(
    'DELETE FROM inc.companies WHERE id = 4',
    'DELETE FROM inc.companies WHERE id = 2',
    'INSERT INTO inc.companies VALUES (99, $$late$$)',
    'UPDATE inc.companies SET name = $$renamed$$ WHERE id = 1',
    'VACUUM (FREEZE) inc.deals',
    'VACUUM FULL inc.notes',
    'ALTER TABLE inc.contacts ADD COLUMN IF NOT EXISTS extra integer',
  ),
);

describe('audit --since equals a full audit (fast-check)', () => {
  const db = useTestDatabase();

  it('over random change sequences', async () => {
    let runs = 0;
    let incremental = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(op, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 4 }), async (steps) => {
        const c = db().client;
        await c.query(`DROP SCHEMA IF EXISTS inc CASCADE; ${SCHEMA_SQL}`);
        let previous: AuditResult = await audit(db().url);
        for (const step of steps) {
          for (const statement of step) await c.query(statement).catch(() => {}); // an FK or key violation: that write did not happen
          const since = await audit(db().url, asPrevious(previous));
          const full = await audit(db().url);
          expect(view(since)).toEqual(view(full));
          runs++;
          incremental += since.incremental!.tables.filter((t) => t.mode === 'incremental').length;
          previous = since;
        }
      }),
      { numRuns: 12, seed: Number(process.env.FC_SEED ?? 20261201), endOnFailure: true },
    );
    // The property is about incremental runs: most tables must have run incrementally.
    expect(incremental).toBeGreaterThan(runs);
  });
});
