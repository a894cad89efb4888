// Brings a freshly loaded sample CRM to the post-rollout state with plain SQL (what generate/migrate/backfill/dedupe will do).
import type pg from 'pg';
import type { Manifest } from '../../src/config/manifest.js';
import { foreignKeys, readCatalog, findRelation } from '../../src/db/catalog.js';
import { ident, qualified } from '../../src/db/quote.js';

/**
 * Adds the missing tenant columns, fills every NULL from the manifest's backfill foreign keys,
 * detaches cross-tenant references, removes the duplicate twilio_settings row, sets NOT NULL, adds
 * the tenant FK and index, and (when `composite`) replaces FKs between scoped tables by
 * (tenant, id) composite FKs. Generic over the manifest, so it also works in a hostile schema.
 */
export async function prepareSampleAfterRollout(
  client: pg.ClientBase,
  manifest: Manifest,
  options: { composite?: boolean } = {},
): Promise<void> {
  const s = manifest.schema;
  const col = manifest.tenant.column;
  const tenant = qualified(s, manifest.tenant.table);
  const key = ident(manifest.tenant.key);
  let catalog = await readCatalog(client, [s]);
  const scoped = new Set(manifest.tables.map((t) => t.name));
  for (const t of manifest.tables) {
    const rel = findRelation(catalog, s, t.name)!;
    if (!rel.columns.some((c) => c.name === col)) {
      await client.query(`ALTER TABLE ${qualified(s, t.name)} ADD COLUMN ${ident(col)} integer`);
    }
  }
  // Fill NULL tenant columns from parents, pass after pass (parents may be filled in a later pass).
  for (let pass = 0; pass < 10; pass++) {
    let changed = 0;
    for (const t of manifest.tables) {
      const rel = findRelation(catalog, s, t.name)!;
      for (const fkCol of t.backfill) {
        const fk = foreignKeys(rel).find((f) => f.columns.length === 1 && f.columns[0] === fkCol);
        if (!fk?.references) continue;
        const r = await client.query(
          `UPDATE ${qualified(s, t.name)} c SET ${ident(col)} = p.${ident(col)}
             FROM ${qualified(fk.references.schema, fk.references.table)} p
            WHERE c.${ident(fkCol)} = p.${ident(fk.references.columns[0])} AND c.${ident(col)} IS NULL AND p.${ident(col)} IS NOT NULL`,
        );
        changed += r.rowCount ?? 0;
      }
    }
    if (changed === 0) break;
  }
  for (const t of manifest.tables) {
    await client.query(
      `UPDATE ${qualified(s, t.name)} SET ${ident(col)} = (SELECT min(${key}) FROM ${tenant}) WHERE ${ident(col)} IS NULL`,
    );
  }
  // Dedupe singletons: keep the lowest id per tenant, repoint references, delete the rest.
  catalog = await readCatalog(client, [s]);
  for (const t of manifest.tables.filter((x) => x.singleton)) {
    const dupes = await client.query<{ id: number; keep: number }>(
      `SELECT id, min(id) OVER (PARTITION BY ${ident(col)}) AS keep FROM ${qualified(s, t.name)}`,
    );
    for (const row of dupes.rows.filter((r) => r.id !== r.keep)) {
      for (const rel of catalog.relations.values()) {
        for (const fk of foreignKeys(rel)) {
          if (fk.references?.table === t.name && fk.columns.length === 1) {
            await client.query(`UPDATE ${qualified(rel.schema, rel.name)} SET ${ident(fk.columns[0])} = $1 WHERE ${ident(fk.columns[0])} = $2`, [row.keep, row.id]);
          }
        }
      }
      await client.query(`DELETE FROM ${qualified(s, t.name)} WHERE id = $1`, [row.id]);
    }
  }
  // Detach cross-tenant references (nullable FK columns between scoped tables).
  for (const t of manifest.tables) {
    const rel = findRelation(catalog, s, t.name)!;
    for (const fk of foreignKeys(rel)) {
      if (fk.columns.length !== 1 || !fk.references || !scoped.has(fk.references.table)) continue;
      await client.query(
        `UPDATE ${qualified(s, t.name)} c SET ${ident(fk.columns[0])} = NULL
           FROM ${qualified(s, fk.references.table)} p
          WHERE c.${ident(fk.columns[0])} = p.${ident(fk.references.columns[0])} AND c.${ident(col)} <> p.${ident(col)}`,
      );
    }
  }
  for (const t of manifest.tables) {
    const table = qualified(s, t.name);
    const rel = findRelation(catalog, s, t.name)!;
    await client.query(`ALTER TABLE ${table} ALTER COLUMN ${ident(col)} SET NOT NULL`);
    if (!foreignKeys(rel).some((f) => f.columns.length === 1 && f.columns[0] === col)) {
      await client.query(`ALTER TABLE ${table} ADD FOREIGN KEY (${ident(col)}) REFERENCES ${tenant} (${key})`);
    }
    if (!rel.indexes.some((i) => i.columns[0] === col)) {
      await client.query(`CREATE INDEX ON ${table} (${ident(col)})`);
    }
  }
  if (options.composite) {
    for (const t of manifest.tables) {
      await client.query(`ALTER TABLE ${qualified(s, t.name)} ADD UNIQUE (${ident(col)}, id)`);
    }
    for (const t of manifest.tables) {
      const rel = findRelation(catalog, s, t.name)!;
      for (const fk of foreignKeys(rel)) {
        if (fk.columns.length !== 1 || !fk.references || !scoped.has(fk.references.table)) continue;
        const action = fk.references.onDelete === 'CASCADE' ? ' ON DELETE CASCADE' : '';
        await client.query(`ALTER TABLE ${qualified(s, t.name)} DROP CONSTRAINT ${ident(fk.name)}`);
        await client.query(
          `ALTER TABLE ${qualified(s, t.name)} ADD FOREIGN KEY (${ident(col)}, ${ident(fk.columns[0])})
             REFERENCES ${qualified(s, fk.references.table)} (${ident(col)}, ${ident(fk.references.columns[0])})${action}`,
        );
      }
    }
  }
  await client.query(`ANALYZE`);
}
