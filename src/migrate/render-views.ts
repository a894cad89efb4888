// Renders the fix of one view over scoped tables: security_invoker (PostgreSQL 15+) or a revoke from the app roles.
import { commentName, ident, qualified } from '../db/quote.js';
import type { ViewStep } from './plan-views.js';

const roleList = (roles: readonly string[]) => roles.map((r) => (r === 'PUBLIC' ? 'PUBLIC' : ident(r))).join(', ');

/** Up and down SQL of a view step (views phase). */
export function renderView(step: ViewStep): { up: string[]; down: string[] } {
  const v = qualified(step.schema, step.table);
  const vn = commentName(step.schema, step.table);
  if (step.fix === 'security-invoker') {
    return {
      up: [
        `-- ${vn} reads scoped tables with its owner's rights, so it shows every tenant's rows to ${step.readers.map((r) => commentName(r)).join(', ')}.`,
        `-- security_invoker = true makes it read with the caller's rights: row-level security applies to them.`,
        `-- Lock: ACCESS EXCLUSIVE on ${vn} for an instant (catalog only).`,
        `ALTER VIEW ${v} SET (security_invoker = true);`,
      ],
      down: [`-- Lock: ACCESS EXCLUSIVE on ${vn} for an instant.`, `ALTER VIEW ${v} RESET (security_invoker);`],
    };
  }
  const from = [...new Set([...step.grantees, ...step.readers])];
  const reason = step.materialized
    ? 'a materialized view stores every tenant\'s rows and row-level security never applies to it'
    : 'this server is older than PostgreSQL 15 (no security_invoker): the view reads with its owner\'s rights, every tenant';
  const viaGroup = step.readers.filter((r) => !step.grantees.includes(r) && !step.grantees.includes('PUBLIC'));
  return {
    up: [
      `-- ${vn}: ${reason}. The application roles may not read it`,
      `-- (exempt it in the manifest to keep a materialized view readable, with the reason).`,
      ...(viaGroup.length > 0
        ? [`-- note: ${viaGroup.map((r) => commentName(r)).join(', ')} read it through a group role: revoke that role's grant too.`]
        : []),
      `-- Lock: none on the data; the grant changes at once.`,
      `REVOKE SELECT ON ${v} FROM ${roleList(from)};`,
    ],
    down:
      step.grantees.length > 0
        ? [`-- Give back the grants revoked above. Lock: none on the data.`, `GRANT SELECT ON ${v} TO ${roleList(step.grantees)};`]
        : [`-- (nothing to give back for ${vn}: no direct grant was revoked)`],
  };
}
