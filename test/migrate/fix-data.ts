// Test helpers: fix the sample CRM's data by plain SQL (what backfill / dedupe do, without them).
import type pg from 'pg';
import type { Manifest } from '../../src/config/manifest.js';
import { readCatalog, findRelation, foreignKeys } from '../../src/db/catalog.js';
import { ident, qualified } from '../../src/db/quote.js';

/** Fills NULL tenant columns from the manifest's backfill FK columns, a few passes deep. */
export async function fillNullTenants(client: pg.ClientBase, manifest: Manifest): Promise<void> {
  const { schema } = manifest;
  const c = ident(manifest.tenant.column);
  const catalog = await readCatalog(client, [schema]);
  for (let pass = 0; pass < 4; pass++) {
    for (const t of manifest.tables) {
      const table = findRelation(catalog, schema, t.name);
      if (!table) continue;
      for (const column of t.backfill) {
        const fk = foreignKeys(table).find((f) => f.columns.length === 1 && f.columns[0] === column);
        const parent = fk?.references;
        if (!parent) continue;
        await client.query(
          `UPDATE ${qualified(schema, t.name)} x SET ${c} = p.${c}
             FROM ${qualified(parent.schema, parent.table)} p
            WHERE p.${ident(parent.columns[0])} = x.${ident(column)} AND x.${c} IS NULL AND p.${c} IS NOT NULL`,
        );
      }
    }
  }
}

/** The sample CRM's duplicate twilio_settings: repoint phone_numbers, keep the oldest row. */
export async function dedupeTwilioSettings(client: pg.ClientBase, schema = 'public'): Promise<void> {
  const s = ident(schema);
  await client.query(`
    WITH ranked AS (
      SELECT id, company_id, first_value(id) OVER (PARTITION BY company_id ORDER BY id) AS keep FROM ${s}.twilio_settings
       WHERE company_id IS NOT NULL)
    UPDATE ${s}.phone_numbers p SET twilio_settings_id = r.keep FROM ranked r WHERE p.twilio_settings_id = r.id AND r.id <> r.keep`);
  await client.query(`
    DELETE FROM ${s}.twilio_settings t USING ${s}.twilio_settings k
     WHERE t.company_id = k.company_id AND t.id > k.id`);
}

/** Detaches cross-tenant references (sets the FK column NULL) on FKs between scoped tables. */
export async function detachCrossTenant(client: pg.ClientBase, manifest: Manifest): Promise<number> {
  const { schema } = manifest;
  const c = ident(manifest.tenant.column);
  const catalog = await readCatalog(client, [schema]);
  const scoped = new Set(manifest.tables.map((t) => t.name));
  let n = 0;
  for (const t of manifest.tables) {
    const table = findRelation(catalog, schema, t.name);
    if (!table) continue;
    for (const fk of foreignKeys(table)) {
      const ref = fk.references;
      if (!ref || !scoped.has(ref.table) || fk.columns.length !== 1 || fk.columns[0] === manifest.tenant.column) continue;
      const r = await client.query(
        `UPDATE ${qualified(schema, t.name)} x SET ${ident(fk.columns[0])} = NULL
           FROM ${qualified(schema, ref.table)} p
          WHERE p.${ident(ref.columns[0])} = x.${ident(fk.columns[0])} AND p.${c} <> x.${c}`,
      );
      n += r.rowCount ?? 0;
    }
  }
  return n;
}
