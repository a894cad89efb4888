// Read probes: with tenant A set the role sees exactly A's rows; with no tenant set it sees none.
import { ident, qualified } from '../db/quote.js';
import { errorText, probeTx } from './probe-transaction.js';
import type { Outcome, TableProbeEnv } from './verify-types.js';

/** `select-own`: with tenant A set, SELECT returns exactly A's rows (the count read as the owner). */
export async function selectOwn(env: TableProbeEnv): Promise<Outcome> {
  const { info, a } = env;
  const t = qualified(env.manifest.schema, info.name);
  const c = ident(info.column);
  let expected = 0;
  const seen = await probeTx(
    env,
    a,
    async (tx) => {
      expected = Number((await tx.query(`SELECT count(*) AS n FROM ${t} WHERE ${c} = $1::${info.type}`, [a])).rows[0].n);
    },
    async (tx) =>
      (await tx.query(`SELECT count(*) AS n, count(*) FILTER (WHERE ${c} IS DISTINCT FROM $1::${info.type}) AS foreign FROM ${t}`, [a])).rows[0],
  );
  const n = Number(seen.n);
  const foreign = Number(seen.foreign);
  if (foreign > 0) return { status: 'fail', detail: `tenant ${a} set: sees ${foreign} row(s) of other tenants (${n} in all; tenant ${a} has ${expected})` };
  if (n !== expected) return { status: 'fail', detail: `tenant ${a} set: sees ${n} row(s); tenant ${a} has ${expected}` };
  return { status: 'pass', detail: `sees exactly tenant ${a}'s ${expected} row(s)` };
}

/** `select-no-tenant`: with no tenant set, SELECT returns zero rows and raises nothing. */
export async function selectNoTenant(env: TableProbeEnv): Promise<Outcome> {
  const t = qualified(env.manifest.schema, env.info.name);
  try {
    const n = await probeTx(env, null, async () => {}, async (tx) => Number((await tx.query(`SELECT count(*) AS n FROM ${t}`)).rows[0].n));
    return n === 0
      ? { status: 'pass', detail: 'no tenant set: zero rows, no error' }
      : { status: 'fail', detail: `no tenant set: sees ${n} row(s)` };
  } catch (error) {
    return { status: 'fail', detail: `no tenant set: the query raised ${errorText(error)} (it must return zero rows)` };
  }
}
