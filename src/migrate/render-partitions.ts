// Renders the steps PostgreSQL only allows partition by partition on a partitioned table: the tenant
// foreign key (no NOT VALID on a partitioned table) and indexes (no CREATE INDEX CONCURRENTLY on one).
import type { LiveContext } from '../config/live-context.js';
import { commentName, ident, literal, qualified, regclassText } from '../db/quote.js';
import type { PartitionTarget } from './plan-partitions.js';
import type { PlanStep } from './plan.js';
import { assertValid, concurrentIndex, doBlock } from './render-sql.js';

type PartitionedStep = Extract<PlanStep, { partitions?: PartitionTarget[] }> & { partitions: PartitionTarget[] };

/** Whether a step works on a partitioned table (and so is rendered here). */
export function isPartitioned(step: PlanStep): step is PartitionedStep {
  return 'partitions' in step && Array.isArray(step.partitions);
}

/** Up and down SQL of a step on a partitioned table. */
export function renderPartitioned(live: LiveContext, step: PartitionedStep): { up: string[]; down: string[] } {
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
    case 'create-index':
    case 'unique': {
      const columns = step.kind === 'unique' ? step.columns : [c];
      const unique = step.kind === 'unique';
      const where = step.kind === 'unique' ? step.where : undefined;
      const list = columns.map(ident).join(', ');
      return {
        up: [
          `-- ${tn} is partitioned: CREATE INDEX CONCURRENTLY does not work on it. The parent's index is created ON ONLY`,
          `-- the parent (INVALID, empty), each partition's is built concurrently and attached; with the last one`,
          `-- attached the parent's index is VALID, and partitions created later get theirs automatically.`,
          `-- Lock: SHARE on ${tn} only, for an instant (ON ONLY reads no rows; writes wait that instant).`,
          `-- squawk: ON ONLY builds nothing (no rows are read); CONCURRENTLY is not allowed on a partitioned table.`,
          `-- squawk-ignore require-concurrent-index-creation`,
`CREATE ${unique ? 'UNIQUE ' : ''}INDEX IF NOT EXISTS ${ident(step.name)}\n  ON ONLY ${t} (${list})${where !== undefined ? `\n  WHERE (${where})` : ''};`,
          ...parts.flatMap((p) => [
            concurrentIndex(p.schema, p.name, p.index!, columns, unique, where),
            `-- Lock: SHARE UPDATE EXCLUSIVE on ${commentName(schema, step.name)}, ACCESS EXCLUSIVE on ${commentName(p.schema, p.index!)} (not the table), an instant.`,
            `ALTER INDEX ${qualified(schema, step.name)} ATTACH PARTITION ${qualified(p.schema, p.index!)};`,
          ]),
          assertValid(schema, step.name),
        ],
        down: [
          `-- A partitioned index cannot be dropped CONCURRENTLY; this drops the partitions' indexes with it.`,
          `-- Lock: ACCESS EXCLUSIVE on ${tn} and every partition, for an instant.`,
          `-- squawk: DROP INDEX CONCURRENTLY is not allowed on a partitioned index.`,
          `-- squawk-ignore require-concurrent-index-deletion`,
          `DROP INDEX IF EXISTS ${qualified(schema, step.name)};`,
        ],
      };
    }
  }
  return { up: [], down: [] };
}
