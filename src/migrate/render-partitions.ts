// Renders the steps PostgreSQL only allows partition by partition on a partitioned table: the tenant
// foreign key and composite foreign keys (PostgreSQL 15 refuses ADD CONSTRAINT … FOREIGN KEY … NOT VALID
// on a partitioned table: "not yet supported on partitioned tables"), indexes and the (tenant, key)
// unique key of a partitioned parent (no CREATE INDEX CONCURRENTLY, no ADD CONSTRAINT … USING INDEX on one).
import type { LiveContext } from '../config/live-context.js';
import { findRelation } from '../db/catalog.js';
import { commentName, ident, literal, qualified, regclassText } from '../db/quote.js';
import type { PartitionTarget } from './plan-partitions.js';
import type { PlanStep } from './plan.js';
import { assertValid, concurrentIndex, doBlock } from './render-sql.js';

type PartitionedStep = Extract<PlanStep, { partitions?: PartitionTarget[] }> & { partitions: PartitionTarget[] };

/** Whether a step works on a partitioned table (and so is rendered here). */
export function isPartitioned(step: PlanStep): step is PartitionedStep {
  return 'partitions' in step && Array.isArray(step.partitions);
}

/** ON DELETE/ON UPDATE/DEFERRABLE clauses of a composite FK and of the single-column one it replaces (render-steps.ts). */
export interface FkClauses {
  composite: string;
  old: string;
}

/**
 * The route PostgreSQL 15 allows for a foreign key on a partitioned table, with each lock: the key on
 * every partition NOT VALID (no scan), validated there one scan at a time (reads and writes go on),
 * then the parent's, which adopts the partitions' validated keys instead of scanning. A NOT VALID key
 * is not adopted (PostgreSQL 15 would add and check a second one): hence validating first.
 */
function partitionedForeignKey(
  schema: string,
  table: string,
  parts: PartitionTarget[],
  name: string,
  definition: string,
  referenced: string,
  referencedPartitioned: boolean,
): string[] {
  const rn = commentName(schema, referenced);
  const refLock = referencedPartitioned ? `${rn} and each of its partitions` : rn;
  return [
    ...parts.flatMap((p) => [
      `-- Lock: ACCESS EXCLUSIVE on ${commentName(p.schema, p.name)} (the DROP … IF EXISTS that makes it repeatable) and SHARE ROW EXCLUSIVE on ${refLock}, an instant (NOT VALID: no scan).`,
      `ALTER TABLE ${qualified(p.schema, p.name)} DROP CONSTRAINT IF EXISTS ${ident(name)},\n  ADD CONSTRAINT ${ident(name)}\n  ${definition} NOT VALID;`,
    ]),
    ...parts.flatMap((p) => [
      `-- Lock: SHARE UPDATE EXCLUSIVE on ${commentName(p.schema, p.name)}, ROW SHARE on ${rn}, during one scan: reads and writes go on.`,
      doBlock(
        `  IF EXISTS (SELECT FROM pg_catalog.pg_constraint WHERE conrelid = to_regclass(${literal(regclassText(p.schema, p.name))})\n` +
          `             AND conname = ${literal(name)} AND NOT convalidated) THEN\n` +
          `    ALTER TABLE ${qualified(p.schema, p.name)} VALIDATE CONSTRAINT ${ident(name)};\n  END IF;`,
      ),
    ]),
    `-- The parent's key adopts the partitions' validated ones: no scan. A partition created since has none and is`,
    `-- checked by one scan under these locks (writes wait). Lock: SHARE ROW EXCLUSIVE on ${commentName(schema, table)} and every`,
    `-- partition, ACCESS EXCLUSIVE on ${rn} (PostgreSQL re-points its referenced-side triggers), an instant.`,
    doBlock(
      `  IF NOT EXISTS (SELECT FROM pg_catalog.pg_constraint WHERE conrelid = to_regclass(${literal(regclassText(schema, table))}) AND conname = ${literal(name)}) THEN\n` +
        `    ALTER TABLE ${qualified(schema, table)} ADD CONSTRAINT ${ident(name)} ${definition};\n  END IF;`,
    ),
  ];
}

/** Up and down SQL of a step on a partitioned table. */
export function renderPartitioned(live: LiveContext, step: PartitionedStep, clauses?: FkClauses): { up: string[]; down: string[] } {
  const { schema, tenant } = live.manifest;
  const c = tenant.column;
  const t = qualified(schema, step.table);
  const tn = commentName(schema, step.table);
  const tt = commentName(schema, tenant.table);
  const ref = `${qualified(schema, tenant.table)} (${ident(tenant.key)})`;
  const parts = step.partitions;
  switch (step.kind) {
    case 'add-tenant-fk':
      return {
        up: [
          `-- ${tn} is partitioned: PostgreSQL refuses a NOT VALID foreign key on it, so each partition gets one`,
          `-- (checks new rows only); the validate phase validates them and then adds the parent's, which adopts them.`,
          ...parts.flatMap((p) => [
            `-- Lock: ACCESS EXCLUSIVE on ${commentName(p.schema, p.name)} (the DROP … IF EXISTS) and SHARE ROW EXCLUSIVE on ${tt}, an instant.`,
            `ALTER TABLE ${qualified(p.schema, p.name)} DROP CONSTRAINT IF EXISTS ${ident(step.name)},\n  ADD CONSTRAINT ${ident(step.name)}\n  FOREIGN KEY (${ident(c)}) REFERENCES ${ref} NOT VALID;`,
          ]),
        ],
        down: parts.flatMap((p) => [
          `-- Lock: ACCESS EXCLUSIVE on ${commentName(p.schema, p.name)} and ${tt} for an instant.`,
          `ALTER TABLE ${qualified(p.schema, p.name)} DROP CONSTRAINT IF EXISTS ${ident(step.name)};`,
        ]),
      };
    case 'validate-tenant-fk': {
      const reg = literal(regclassText(schema, step.table));
      return {
        up: [
          `-- Validate each partition's foreign key (one scan each; reads and writes go on), then add the parent's:`,
          `-- PostgreSQL attaches the partitions' validated keys instead of scanning again. A partition created since`,
          `-- the expand phase has none: the parent's is checked on it by a scan under SHARE ROW EXCLUSIVE (writes wait).`,
          ...parts.flatMap((p) => [
            `-- Lock: SHARE UPDATE EXCLUSIVE on ${commentName(p.schema, p.name)}, ROW SHARE on ${tt}, during one scan.`,
            doBlock(
              `  IF EXISTS (SELECT FROM pg_catalog.pg_constraint WHERE conrelid = to_regclass(${literal(regclassText(p.schema, p.name))})\n` +
                `             AND conname = ${literal(step.name)} AND NOT convalidated) THEN\n` +
                `    ALTER TABLE ${qualified(p.schema, p.name)} VALIDATE CONSTRAINT ${ident(step.name)};\n  END IF;`,
            ),
          ]),
          `-- Lock: SHARE ROW EXCLUSIVE on ${tn} and every partition, and ACCESS EXCLUSIVE on ${tt} (PostgreSQL moves`,
          `-- the partitions' referenced-side triggers to the parent's key), for an instant: no scan.`,
          doBlock(
            `  IF NOT EXISTS (SELECT FROM pg_catalog.pg_constraint WHERE conrelid = to_regclass(${reg}) AND conname = ${literal(step.name)}) THEN\n` +
              `    ALTER TABLE ${t} ADD CONSTRAINT ${ident(step.name)} FOREIGN KEY (${ident(c)}) REFERENCES ${ref};\n  END IF;`,
          ),
        ],
        down: [
          `-- Drops the parent's key and the partitions' keys attached to it. Lock: ACCESS EXCLUSIVE on ${tn},`,
          `-- every partition and ${tt}, for an instant.`,
          `ALTER TABLE ${t} DROP CONSTRAINT IF EXISTS ${ident(step.name)};`,
        ],
      };
    }
    case 'composite-fk': {
      const parent = qualified(schema, step.parent);
      const parentPartitioned = findRelation(live.catalog, schema, step.parent)?.kind === 'partitioned-table';
      const old = step.old!;
      const composite = `FOREIGN KEY (${ident(c)}, ${ident(step.column)}) REFERENCES ${parent} (${ident(c)}, ${ident(step.parentKey)})${clauses?.composite ?? ''}`;
      const single = `FOREIGN KEY (${ident(step.column)}) REFERENCES ${parent} (${ident(step.parentKey)})${clauses?.old ?? ''}`;
      const pn = commentName(schema, step.parent);
      return {
        up: [
          `-- ${commentName(step.table, step.column)} -> ${pn}: a row may only reference a ${pn} row of its own tenant.`,
          `-- ${tn} is partitioned: PostgreSQL 15 refuses a NOT VALID foreign key on it, so the key goes on each partition first.`,
          ...(step.exists === 'valid' ? [] : partitionedForeignKey(schema, step.table, parts, step.name, composite, step.parent, parentPartitioned)),
          `-- The single-column foreign key is now redundant (dropped on every partition with it).`,
          `-- Lock: ACCESS EXCLUSIVE on ${tn}, every partition and ${pn}, an instant.`,
          `ALTER TABLE ${t} DROP CONSTRAINT IF EXISTS ${ident(old.name)};`,
        ],
        down: [
          `-- Restore ${commentName(old.name)} by the same route, then drop the composite key.`,
          ...partitionedForeignKey(schema, step.table, parts, old.name, single, step.parent, parentPartitioned),
          ...(step.exists === 'valid'
            ? []
            : [`-- Lock: ACCESS EXCLUSIVE on ${tn}, every partition and ${pn}, an instant.`, `ALTER TABLE ${t} DROP CONSTRAINT IF EXISTS ${ident(step.name)};`]),
        ],
      };
    }
    case 'parent-key':
    case 'create-index':
    case 'unique': {
      const columns = step.kind === 'unique' ? step.columns : step.kind === 'parent-key' ? [c, step.key] : [c];
      const unique = step.kind !== 'create-index';
      const where = step.kind === 'unique' ? step.where : undefined;
      const list = columns.map(ident).join(', ');
      const name = step.kind === 'parent-key' ? step.indexName : step.name;
      return {
        up: [
          ...(step.kind === 'parent-key'
            ? [
                `-- UNIQUE (${commentName(c)}, ${commentName(step.key)}) so child tables can reference (${commentName(c)}, ${commentName(step.key)}). ${tn} is`,
                `-- partitioned: the key holds its partition key, as PostgreSQL requires; it stays a unique index (PostgreSQL refuses`,
                `-- ADD CONSTRAINT … USING INDEX on a partitioned table), which foreign keys reference all the same.`,
              ]
            : []),
          `-- ${tn} is partitioned: CREATE INDEX CONCURRENTLY does not work on it. The parent's index is created ON ONLY`,
          `-- the parent (INVALID, empty), each partition's is built concurrently and attached; with the last one`,
          `-- attached the parent's index is VALID, and partitions created later get theirs automatically.`,
          `-- Lock: SHARE on ${tn} only, for an instant (ON ONLY reads no rows; writes wait that instant).`,
          `-- squawk: ON ONLY builds nothing (no rows are read); CONCURRENTLY is not allowed on a partitioned table.`,
          `-- squawk-ignore require-concurrent-index-creation`,
`CREATE ${unique ? 'UNIQUE ' : ''}INDEX IF NOT EXISTS ${ident(name)}\n  ON ONLY ${t} (${list})${where !== undefined ? `\n  WHERE (${where})` : ''};`,
          ...parts.flatMap((p) => [
            concurrentIndex(p.schema, p.name, p.index!, columns, unique, where),
            `-- Lock: SHARE UPDATE EXCLUSIVE on ${commentName(schema, name)}, ACCESS EXCLUSIVE on ${commentName(p.schema, p.index!)} (not the table), an instant.`,
            `ALTER INDEX ${qualified(schema, name)} ATTACH PARTITION ${qualified(p.schema, p.index!)};`,
          ]),
          assertValid(schema, name),
        ],
        down: [
          `-- A partitioned index cannot be dropped CONCURRENTLY; this drops the partitions' indexes with it.`,
          `-- Lock: ACCESS EXCLUSIVE on ${tn} and every partition, for an instant.`,
          `-- squawk: DROP INDEX CONCURRENTLY is not allowed on a partitioned index.`,
          `-- squawk-ignore require-concurrent-index-deletion`,
          `DROP INDEX IF EXISTS ${qualified(schema, name)};`,
        ],
      };
    }
  }
  return { up: [], down: [] };
}
