import { describe, expect, it } from 'vitest';
import { analyzeExpression, readWrapperFunctions } from '../../src/audit/policy-expressions.js';

// Expressions as pg_get_expr prints them (copied from PostgreSQL 15 output).
const S = 'app.current_company_id';
const generated = `(company_id = ( SELECT (NULLIF(current_setting('app.current_company_id'::text, true), ''::text))::integer AS "nullif"))`;
const noSubselect = `(company_id = (NULLIF(current_setting('app.current_company_id'::text, true), ''::text))::integer)`;

describe('policy expressions, read with the PostgreSQL parser', () => {
  it('recognises the generated tenant predicate, with and without the subselect', async () => {
    expect(await analyzeExpression(generated, 'company_id', S)).toMatchObject({
      scoped: true,
      alwaysTrue: false,
      settingReads: [{ name: S, missingOk: true, castWithoutNullif: false, inSubselect: true }],
    });
    expect(await analyzeExpression(noSubselect, 'company_id', S)).toMatchObject({
      scoped: true,
      settingReads: [{ name: S, missingOk: true, castWithoutNullif: false, inSubselect: false }],
    });
  });

  it('accepts the column on either side, qualified, and AND-ed with other conditions', async () => {
    const e = `((deals.company_id = (current_setting('app.current_company_id'::text, true))::integer) AND (status <> 'x'::text))`;
    const a = await analyzeExpression(e, 'company_id', S);
    expect(a.scoped).toBe(true);
    expect(a.settingReads[0].castWithoutNullif).toBe(true);
    expect((await analyzeExpression(`((NULLIF(current_setting('${S}', true), ''))::integer = company_id)`, 'company_id', S)).scoped).toBe(true);
  });

  it('rejects true, OR-widened predicates, other columns and other settings', async () => {
    expect(await analyzeExpression('true', 'company_id', S)).toMatchObject({ scoped: false, alwaysTrue: true });
    const widened = `((company_id = (NULLIF(current_setting('${S}', true), ''))::integer) OR (is_public = true))`;
    expect((await analyzeExpression(widened, 'company_id', S)).scoped).toBe(false);
    const bothScoped = `(((company_id = (NULLIF(current_setting('${S}', true), ''))::integer) AND a) OR ((company_id = (NULLIF(current_setting('${S}', true), ''))::integer) AND b))`;
    expect((await analyzeExpression(bothScoped, 'company_id', S)).scoped).toBe(true);
    expect((await analyzeExpression(`(owner_id = (NULLIF(current_setting('${S}', true), ''))::integer)`, 'company_id', S)).scoped).toBe(false);
    const other = await analyzeExpression(`(company_id = (NULLIF(current_setting('app.tenant', true), ''))::integer)`, 'company_id', S);
    expect(other.scoped).toBe(false);
    expect(other.settingReads[0].name).toBe('app.tenant');
  });

  it('finds unsafe reads: no missing_ok, a cast without nullif', async () => {
    const a = await analyzeExpression(`(company_id = (current_setting('${S}'::text))::integer)`, 'company_id', S);
    expect(a.settingReads[0]).toMatchObject({ missingOk: false, castWithoutNullif: true });
    expect(a.scoped).toBe(true);
    const textCompare = await analyzeExpression(`((company_id)::text = current_setting('${S}', true))`, 'company_id', S);
    expect(textCompare.settingReads[0].castWithoutNullif).toBe(false);
  });

  it('comparesTenant: the comparison is there even when an OR widens it; absent for other columns and true', async () => {
    const widened = `((company_id = (NULLIF(current_setting('${S}', true), ''))::integer) OR (is_public = true))`;
    expect(await analyzeExpression(widened, 'company_id', S)).toMatchObject({ scoped: false, comparesTenant: true });
    expect(await analyzeExpression(generated, 'company_id', S)).toMatchObject({ scoped: true, comparesTenant: true });
    expect((await analyzeExpression('true', 'company_id', S)).comparesTenant).toBe(false);
    expect((await analyzeExpression(`(owner_id = (NULLIF(current_setting('${S}', true), ''))::integer)`, 'company_id', S)).comparesTenant).toBe(false);
    expect((await analyzeExpression(`(company_id = (NULLIF(current_setting('app.other', true), ''))::integer)`, 'company_id', S)).comparesTenant).toBe(false);
  });

  it('lists the functions an expression calls', async () => {
    expect((await analyzeExpression(`(company_id = app.tenant_of(random()))`, 'company_id', S)).functions).toEqual(['random', 'tenant_of']);
  });

  it('reads through a SQL wrapper function only with the wrappers of its own run', async () => {
    const body = `SELECT nullif(current_setting('${S}', true), '')::integer`;
    const mine = await readWrapperFunctions([{ schema: 'app', name: 'current_company', body, visible: true }]);
    const other = await readWrapperFunctions([{ schema: 'app', name: 'unrelated', body, visible: true }]);
    const e = '(company_id = current_company())';
    expect(await analyzeExpression(e, 'company_id', S, mine)).toMatchObject({ scoped: true, comparesTenant: true });
    expect(await analyzeExpression('(company_id = app.current_company())', 'company_id', S, mine)).toMatchObject({ scoped: true });
    // Another audit's functions (or none) never leak in: current_company() is unknown there.
    expect(await analyzeExpression(e, 'company_id', S, other)).toMatchObject({ scoped: false, comparesTenant: false });
    expect(await analyzeExpression(e, 'company_id', S)).toMatchObject({ scoped: false });
  });

  // pg_get_expr output of PostgreSQL 15 for each shape (IN lists come back as = ANY (ARRAY[…])).
  const read = `( SELECT (NULLIF(current_setting('${S}'::text, true), ''::text))::integer AS "nullif")`;

  it('fallbacks: every argument of COALESCE, every CASE branch, GREATEST/LEAST and wrapper bodies are values the comparison can take', async () => {
    const fallback = async (e: string, wrappers?: Awaited<ReturnType<typeof readWrapperFunctions>>) => {
      const a = await analyzeExpression(e, 'company_id', S, wrappers);
      return { scoped: a.scoped, wide: a.wideComparisons, fallbacks: a.fallbacks };
    };
    expect(await fallback(`(company_id = COALESCE((NULLIF(current_setting('${S}'::text, true), ''::text))::integer, company_id))`)).toEqual({
      scoped: true,
      wide: [],
      fallbacks: ['company_id itself (every row matches)'],
    });
    expect((await fallback(`(company_id = CASE WHEN (current_setting('${S}'::text, true) IS NULL) THEN 2 ELSE (current_setting('${S}'::text, true))::integer END)`)).fallbacks).toEqual([
      "the constant 2 (that tenant's rows match)",
    ]);
    expect((await fallback(`(company_id = GREATEST(${read}, 0))`)).fallbacks).toEqual(["the constant 0 (that tenant's rows match)"]);
    expect((await fallback(`(company_id = COALESCE(${read}, owner_id))`)).fallbacks).toEqual(['column owner_id']);
    const body = `SELECT coalesce(nullif(current_setting('${S}', true), '')::int, 2)`;
    const wrappers = await readWrapperFunctions([{ schema: 'app', name: 'current_tenant', body, visible: true }]);
    expect((await fallback('(company_id = ( SELECT current_tenant() AS current_tenant))', wrappers)).fallbacks).toEqual(["the constant 2 (that tenant's rows match)"]);
    // No fallback: the generated read, NULL/'' defaults (they match no tenant), NULLIF removing the default, CASE without ELSE.
    for (const safe of [
      generated,
      `(company_id = COALESCE(${read}, NULL::integer))`,
      `(company_id = (NULLIF(COALESCE(current_setting('${S}'::text, true), ''::text), ''::text))::integer)`,
      `(company_id = (NULLIF(COALESCE(current_setting('${S}'::text, true), '0'::text), '0'::text))::integer)`,
      `(company_id = CASE WHEN (current_setting('${S}'::text, true) <> ''::text) THEN (current_setting('${S}'::text, true))::integer END)`,
    ]) {
      expect(await fallback(safe)).toEqual({ scoped: true, wide: [], fallbacks: [] });
    }
  });

  it('wide comparisons: other operators, lists with other values, a negated equality; an IN list of setting reads is scoped', async () => {
    const wide = async (e: string) => {
      const a = await analyzeExpression(e, 'company_id', S);
      return { scoped: a.scoped, comparesTenant: a.comparesTenant, wide: a.wideComparisons };
    };
    expect(await wide(`(company_id >= ${read})`)).toEqual({ scoped: false, comparesTenant: false, wide: [`company_id >= ${S}`] });
    expect((await wide(`(company_id <> ${read})`)).wide).toEqual([`company_id <> ${S}`]);
    expect((await wide(`(company_id IS NOT DISTINCT FROM ${read})`)).wide).toEqual([`company_id IS NOT DISTINCT FROM ${S}`]);
    expect((await wide(`((company_id)::text ~~ (current_setting('${S}'::text, true) || '%'::text))`)).wide).toEqual([`company_id ~~ ${S}`]);
    expect(await wide(`(company_id = ANY (ARRAY[${read}, 2]))`)).toEqual({ scoped: false, comparesTenant: false, wide: [`company_id IN (${S}, 2)`] });
    expect(await wide(`(NOT (company_id = ${read}))`)).toEqual({ scoped: false, comparesTenant: false, wide: [`NOT (company_id = ${S})`] });
    expect(await wide(`(company_id = ANY (ARRAY[${read}]))`)).toEqual({ scoped: true, comparesTenant: true, wide: [] });
    expect(await wide(`(company_id IN ${read})`)).toEqual({ scoped: true, comparesTenant: true, wide: [] });
    // Comparisons that do not involve the setting are not the tenant's business here.
    expect((await wide(`((company_id = ${read}) AND (amount >= 10))`)).wide).toEqual([]);
    expect((await wide(`(company_id >= 10)`)).wide).toEqual([]);
  });
});

