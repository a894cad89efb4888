// Shared by the polymorphic tests: the SaaS sample's manifest with its pairs, and an enforcing trigger written by hand.
import { parseManifest, type Manifest } from '../../src/config/manifest.js';
import { ident, literal, qualified } from '../../src/db/quote.js';
import { polymorphicTriggerName } from '../../src/audit/polymorphic-references.js';

/** The SaaS sample's tenancy (organizations.id / organization_id) with its polymorphic pairs. */
export function saasManifest(schema: string, app = 'saas_app_never_created'): Manifest {
  return parseManifest({
    schema,
    tenant: { table: 'organizations', key: 'id', column: 'organization_id', setting: 'app.current_organization_id' },
    roles: { app: [app] },
    tables: {
      customers: null,
      invoices: null,
      payment_requests: null,
      custom_fields: null,
      payments: { polymorphic: [{ type: 'payable_type', id: 'payable_id', targets: { Invoice: 'invoices', PaymentRequest: 'payment_requests' } }] },
      versions: { polymorphic: [{ type: 'item_type', id: 'item_id', targets: { Invoice: 'invoices', Customer: 'customers' } }] },
      active_storage_attachments: { polymorphic: [{ type: 'record_type', id: 'record_id', targets: { Invoice: 'invoices' } }] },
      // A pair beside a foreign key: both sources must agree.
      custom_field_values: {
        backfill: ['custom_field_id'],
        polymorphic: [{ type: 'record_type', id: 'record_id', targets: { Customer: 'customers' } }],
      },
    },
  });
}

/**
 * A constraint trigger rejecting a row whose type names no target, or whose target has no row of
 * the row's own tenant with that key, with SQLSTATE 23503 (foreign_key_violation): the contract of the validate
 * phase's generated trigger, written by hand here, under the name the audit takes as the pair's
 * proof. It runs as the writing role, under row-level security, so it is written fail-closed (a
 * same-tenant target must be visible) rather than looking for another tenant's row it cannot see.
 * Targets: [type value, table, the target's tenant column (its key for the tenant table)].
 */
export function ENFORCING_TRIGGER_SETUP(
  schema: string,
  table: string,
  tenant: string,
  type: string,
  id: string,
  targets: [string, string, string?][],
): string {
  const fn = qualified(schema, `${table}_${type}_check`);
  const fail = `RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation', MESSAGE = format('%s %s is no row of tenant %s', NEW.${ident(type)}, NEW.${ident(id)}, NEW.${ident(tenant)});`;
  const branches = targets
    .map(
      ([value, target, targetTenant]) => `WHEN NEW.${ident(type)}::text = ${literal(value)} THEN
      IF NOT EXISTS (SELECT 1 FROM ${qualified(schema, target)} p
                      WHERE p.id::text = NEW.${ident(id)}::text AND p.${ident(targetTenant ?? tenant)} = NEW.${ident(tenant)}) THEN
        ${fail}
      END IF;`,
    )
    .join('\n    ');
  return `CREATE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $fn$
  BEGIN
    IF NEW.${ident(id)} IS NULL THEN RETURN NULL; END IF;
    CASE
    ${branches}
    ELSE ${fail}
    END CASE;
    RETURN NULL;
  END $fn$;
  CREATE CONSTRAINT TRIGGER ${ident(polymorphicTriggerName(table, { typeColumn: type, idColumn: id }))}
    AFTER INSERT OR UPDATE OF ${[type, id, tenant].map(ident).join(', ')} ON ${qualified(schema, table)}
    FOR EACH ROW EXECUTE FUNCTION ${fn}()`;
}
