// The citus-propagation probe: on a Citus coordinator, a login as the application role forwards SET LOCAL to the workers.
import { propagationFor, PROPAGATION_SETTING } from '../citus/propagation.js';
import type { Finding } from './role-probes.js';
import type { ProbeEnv } from './verify-types.js';

/**
 * `citus-propagation` (Citus coordinators only; nothing elsewhere): the tenant reaches the workers
 * only as `SET LOCAL` with `citus.propagate_set_commands = 'local'`. withTenant's `citus: true`
 * sets both per transaction; any other code path (another language, an ORM's own SET LOCAL, psql
 * as the role) relies on the role's or database's setting, so a login as the role must get 'local'.
 * verify's own probes set it per transaction (a SET ROLE does not load the role's settings).
 */
export async function citusPropagation(env: ProbeEnv): Promise<Finding[]> {
  if (!env.citus) return [];
  const p = await propagationFor(env.client, env.role);
  if (p.ok) {
    return [{ table: PROPAGATION_SETTING, status: 'pass', detail: `a login as ${p.role} in ${p.database} gets ${PROPAGATION_SETTING} = 'local' (${p.source})` }];
  }
  return [
    {
      table: PROPAGATION_SETTING,
      status: 'fail',
      detail:
        `a login as ${p.role} in ${p.database} gets ${PROPAGATION_SETTING} = '${p.value}' (${p.source}): a SET LOCAL of ` +
        `${env.manifest.tenant.setting} stays on the coordinator and the role sees 0 rows on distributed tables; run: ${p.fix} ` +
        `(or ALTER DATABASE … SET for every role)`,
    },
  ];
}
