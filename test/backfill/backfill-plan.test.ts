// Unit: parents-first ordering (strongly connected groups for cycles) and the batch SQL shape.
import { describe, expect, it } from 'vitest';
import { orderParentsFirst, type BackfillTablePlan } from '../../src/backfill/backfill-plan.js';
import { batchUpperBoundSql, fillBatchSql, rangeCondition } from '../../src/backfill/backfill-sql.js';
import { percentile } from '../../src/backfill/percentile.js';
import { aimFor } from '../../src/backfill/batch-walker.js';

function table(name: string, parents: string[], tenantParents: string[] = []): BackfillTablePlan {
  const source = (parent: string, isTenant: boolean) => ({
    column: `${parent}_id`,
    constraint: `${name}_${parent}_fkey`,
    parentTable: parent,
    parentColumn: 'id',
    parentTenantColumn: isTenant ? 'id' : 'company_id',
    parentTenantType: 'integer',
    parentIsTenantTable: isTenant,
    selfReference: parent === name,
  });
  return {
    schema: 's',
    table: name,
    tenantColumn: 'company_id',
    tenantType: 'integer',
    key: [{ name: 'id', type: 'integer' }],
    sources: [...parents.map((p) => source(p, false)), ...tenantParents.map((p) => source(p, true))],
    scopedForeignKeys: [],
    catalog: undefined as never,
  };
}

describe('orderParentsFirst', () => {
  it('puts every parent before its children, several hops deep, whatever the input order', () => {
    const groups = orderParentsFirst([
      table('document_signatures', ['documents']),
      table('documents', ['folders', 'users']),
      table('folders', ['folders', 'users']),
      table('users', [], ['companies']),
      table('bulk_email_campaigns', ['email_campaigns']),
      table('email_campaigns', ['email_templates']),
      table('email_templates', ['users']),
    ]);
    const order = groups.map((g) => g.tables.map((t) => t.table).join('+'));
    const at = (n: string) => order.indexOf(n);
    expect(at('users')).toBeLessThan(at('folders'));
    expect(at('folders')).toBeLessThan(at('documents'));
    expect(at('documents')).toBeLessThan(at('document_signatures'));
    expect(at('email_templates')).toBeLessThan(at('email_campaigns'));
    expect(at('email_campaigns')).toBeLessThan(at('bulk_email_campaigns'));
    expect(groups.find((g) => g.tables[0].table === 'folders')!.cyclic).toBe(true); // self-reference
    expect(groups.find((g) => g.tables[0].table === 'documents')!.cyclic).toBe(false);
  });

  it('groups a cycle between tables into one cyclic group, after its parents and before its children', () => {
    const groups = orderParentsFirst([table('c', ['a']), table('a', ['b', 'root']), table('b', ['a']), table('root', [])]);
    expect(groups.map((g) => [g.tables.map((t) => t.table).sort().join('+'), g.cyclic])).toEqual([
      ['root', false],
      ['a+b', true],
      ['c', false],
    ]);
  });
});

describe('batch SQL', () => {
  it('walks the key with row comparisons, composite keys included', () => {
    const key = [
      { name: 'task id', type: 'bigint' },
      { name: 'mem"ber', type: 'text' },
    ];
    expect(rangeCondition(key, true, true, 5)).toBe(
      '(t."task id", t."mem""ber") > ($5::bigint, $6::text) AND (t."task id", t."mem""ber") <= ($7::bigint, $8::text)',
    );
    expect(batchUpperBoundSql('s', 't', key, false)).toContain('ORDER BY t."task id", t."mem""ber" OFFSET $1 LIMIT 1');
  });

  it('only fills rows still NULL (a concurrent write wins) and only when the sources agree', () => {
    const sql = fillBatchSql(table('deals', ['contacts', 'pipelines']), 'crm state', true, false);
    expect(sql).toContain('WHERE (t."id") = (src.k0) AND t."company_id" IS NULL AND src.v IS NOT NULL AND NOT src.conflict');
    expect(sql).toContain('COALESCE(p0."company_id" <> p1."company_id", false) AS conflict');
    expect(sql).toContain('INSERT INTO "crm state"."backfill_changes"');
  });
});

describe('percentile', () => {
  it('is the nearest-rank percentile', () => {
    const values = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(values, 50)).toBe(50);
    expect(percentile(values, 99)).toBe(99);
    expect(percentile([], 50)).toBeUndefined();
  });
});

describe('aimFor (the batch duration the size adapts toward)', () => {
  it('aims at 70 % of the target until 20 batches ran, then lower the longer the tail of batch durations', () => {
    expect(aimFor(200, [100, 110])).toBe(140);
    const steady = Array.from({ length: 100 }, () => 100);
    expect(aimFor(200, steady)).toBe(150); // tail 1 → taken as 1.2
    const tailed = [...Array.from({ length: 98 }, () => 100), 150, 150]; // p99 / p50 = 1.5
    expect(aimFor(200, tailed)).toBe(120);
    const wild = [...Array.from({ length: 95 }, () => 100), 900, 900, 900, 900, 900];
    expect(aimFor(200, wild)).toBe(60); // tail 9 → taken as 3
  });
});
