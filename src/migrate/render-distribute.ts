// Renders the distribute phase (distribution: citus) as one migration file: primary keys that take the
// tenant column, then reference and distributed tables in one transaction, each with the lock it takes.
import type { LiveContext } from '../config/live-context.js';
import { commentName, commentText, ident, literal, qualified, regclassText } from '../db/quote.js';
import type { MigrationMeta } from './migration-file.js';
import type { DistributeStep } from './plan-distribute.js';
import { distributeStepId } from './plan-distribute.js';
import { concurrentIndex, doBlock } from './render-sql.js';

export const DISTRIBUTE_TITLE = 'distribute: Citus reference tables, and every scoped table distributed by the tenant column, co-located';

export const DISTRIBUTE_NOTES = [
  'Runs on the Citus coordinator (the citus extension, workers added). First, each primary key without the',
  'tenant column becomes (tenant, key…) from a unique index built CONCURRENTLY (Citus enforces a unique key',
  'shard by shard). Then one transaction: the foreign keys between the tables to distribute are dropped,',
  'a UNIQUE constraint equal to a new primary key dropped (one unique index left; down restores it),',
  'the reference tables created, every table distributed in foreign-key order (parents first) co-located',
  'with the first, and the foreign keys re-added (checked shard by shard). The copy into the shards leaves',
  'the local rows on disk, invisible: `SELECT truncate_local_data_after_distributing_table(…)` frees them',
  'once you are content. The transaction holds ACCESS EXCLUSIVE (from the foreign-key drops) on every table',
  'it distributes until it commits: reads and writes of those tables wait for the whole phase. Plan a window.',
];

/** The rows of pg_dist_partition for a table: the guard that makes each call repeatable. */
const isCitusTable = (schema: string, table: string) =>
  `EXISTS (SELECT FROM pg_dist_partition WHERE logicalrelid = ${literal(regclassText(schema, table))}::regclass)`;

/**
 * The up and down SQL of the distribute phase.
 *
 * @example renderDistribute(live, [{ kind: 'citus-distribute', table: 'deals', column: 'company_id', colocateWith: 'companies' }]).up
 * // contains: PERFORM create_distributed_table('"public"."deals"', 'company_id', colocate_with => '"public"."companies"');
 */
export function renderDistribute(live: LiveContext, steps: DistributeStep[]): { up: string[]; down: string[]; meta: MigrationMeta; tables: string[] } {
  const { schema } = live.manifest;
  const meta: MigrationMeta = { phase: 'distribute', provides: steps.map(distributeStepId), preconditions: [], dropsColumns: [] };
  const up: string[] = [];
  const down: string[] = [];
  const tables = [...new Set(steps.map((s) => s.table))];
  up.push(
    `-- The citus extension must be there: this phase runs on the Citus coordinator. No table lock.`,
    doBlock(
      `  IF NOT EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'citus') THEN\n` +
        `    RAISE EXCEPTION 'the distribute phase needs Citus: run it on the coordinator (CREATE EXTENSION citus; citus_add_node(...) for each worker), or remove distribution: citus from the manifest';\n  END IF;`,
    ),
    '',
  );
  const keys = steps.filter((s): s is Extract<DistributeStep, { kind: 'citus-primary-key' }> => s.kind === 'citus-primary-key');
  for (const k of keys) {
    const t = qualified(schema, k.table);
    const tn = commentName(schema, k.table);
    const old = k.columns.map(ident).join(', ');
    up.push(
      `-- ─── ${tn}: primary key (${commentText(k.columns.join(', '))}) → (${commentText(k.newColumns.join(', '))}) ───`,
      `-- Citus enforces a primary key shard by shard, so it must hold the distribution column.`,
      concurrentIndex(schema, k.table, k.newName, k.newColumns, true),
      `-- Swap the keys. Lock: ACCESS EXCLUSIVE on ${tn} for an instant (no scan: the index is built and`,
      `-- valid, the columns NOT NULL). Fails while a single-column foreign key still references (${commentText(k.columns.join(', '))}).`,
      doBlock(
        `  IF EXISTS (SELECT FROM pg_catalog.pg_constraint WHERE conrelid = ${literal(regclassText(schema, k.table))}::regclass AND conname = ${literal(k.name)} AND contype = 'p') THEN\n` +
          `    ALTER TABLE ${t} DROP CONSTRAINT ${ident(k.name)},\n      ADD CONSTRAINT ${ident(k.newName)} PRIMARY KEY USING INDEX ${ident(k.newName)};\n  END IF;`,
      ),
      '',
    );
    const { unique } = k;
    if (unique) {
      down.unshift(...uniqueBack(schema, { ...k, unique }));
      continue;
    }
    down.unshift(
      `-- ─── ${tn}: primary key back to (${commentText(k.columns.join(', '))}) ───`,
      concurrentIndex(schema, k.table, k.name, k.columns, true),
      `-- Lock: ACCESS EXCLUSIVE on ${tn} for an instant. Fails while a foreign key uses the (${commentText(k.newColumns.join(', '))}) key.`,
      doBlock(
        `  IF EXISTS (SELECT FROM pg_catalog.pg_constraint WHERE conrelid = ${literal(regclassText(schema, k.table))}::regclass AND conname = ${literal(k.newName)} AND contype = 'p') THEN\n` +
          `    ALTER TABLE ${t} DROP CONSTRAINT ${ident(k.newName)},\n      ADD CONSTRAINT ${ident(k.name)} PRIMARY KEY USING INDEX ${ident(k.name)};\n  END IF;`,
      ),
      `-- (${old}) is the primary key again.`,
      '',
    );
  }
  const placed = steps.filter((s) => s.kind === 'citus-reference' || s.kind === 'citus-distribute');
  if (placed.length > 0) {
    const distributed = placed.filter((s) => s.kind === 'citus-distribute').map((s) => literal(regclassText(schema, s.table)));
    const regclasses = `ARRAY[${distributed.join(', ')}]::regclass[]`;
    const body: string[] = [
      `  -- Reference tables and distributed tables with foreign keys to them in one transaction: sequential mode.`,
      `  PERFORM set_config('citus.multi_shard_modify_mode', 'sequential', true);`,
    ];
    if (distributed.length > 0) {
      body.push(
        `  -- Foreign keys between the tables to distribute: Citus refuses a local table referencing a distributed`,
        `  -- one (and the reverse), so they are dropped here and re-added once every table is distributed.`,
        `  -- Lock: ACCESS EXCLUSIVE on both tables of each, held until this block commits.`,
        `  SELECT coalesce(jsonb_agg(jsonb_build_object('tbl', con.conrelid::regclass::text, 'name', con.conname::text, 'def', pg_catalog.pg_get_constraintdef(con.oid)) ORDER BY con.conrelid, con.conname), '[]')`,
        `    INTO fks FROM pg_catalog.pg_constraint con`,
        `   WHERE con.contype = 'f' AND con.conrelid = ANY (${regclasses}) AND con.confrelid = ANY (${regclasses});`,
        `  FOR fk IN SELECT * FROM jsonb_to_recordset(fks) AS x(tbl text, name text, def text) LOOP`,
        `    EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', fk.tbl, fk.name);`,
        `  END LOOP;`,
      );
    }
    for (const k of keys) if (k.unique) body.push('', ...dropRedundantUnique(schema, { ...k, unique: k.unique }));
    for (const s of placed) {
      const tn = commentName(schema, s.table);
      const reg = literal(regclassText(schema, s.table));
      body.push('');
      if (s.kind === 'citus-reference') {
        body.push(
          `  -- ${tn}: a reference table, copied whole to every node. Lock: EXCLUSIVE on ${tn} (writes wait, reads go on)`,
          `  -- while the rows are copied.`,
          `  IF NOT ${isCitusTable(schema, s.table)} OR ${isCitusLocal(schema, s.table)} THEN`,
          `    PERFORM create_reference_table(${reg});`,
          `  END IF;`,
        );
      } else if (s.kind === 'citus-distribute') {
        const colocate = s.colocateWith ? `, colocate_with => ${literal(regclassText(schema, s.colocateWith))}` : '';
        body.push(
          `  -- ${tn} distributed by ${commentName(s.column)}${s.colocateWith ? `, co-located with ${commentName(schema, s.colocateWith)}` : ' (the first: the others are co-located with it)'}.`,
          `  -- Lock: EXCLUSIVE on ${tn} (writes wait, reads go on) while its rows are copied into the shards.`,
          `  IF NOT ${isCitusTable(schema, s.table)} OR ${isCitusLocal(schema, s.table)} THEN`,
          `    PERFORM create_distributed_table(${reg}, ${literal(s.column)}${colocate});`,
          `  END IF;`,
        );
      }
    }
    if (distributed.length > 0) {
      body.push(
        '',
        `  -- The foreign keys again, now between co-located distributed tables (validated shard by shard).`,
        `  FOR fk IN SELECT * FROM jsonb_to_recordset(fks) AS x(tbl text, name text, def text) LOOP`,
        `    EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I %s', fk.tbl, fk.name, fk.def);`,
        `  END LOOP;`,
      );
    }
    up.push(
      `-- ─── reference and distributed tables: one transaction ───`,
      doBlock(body.join('\n'), `  fk record;\n  fks jsonb;${keys.some((k) => k.unique) ? '\n  uq record;\n  deps text;' : ''}`),
      '',
    );
    // Down: every table of the phase back to a plain PostgreSQL table; the tables linked by foreign keys go together.
    const undo = [...placed]
      .reverse()
      .map((s) =>
        [
          `  -- ${commentName(schema, s.table)}: its rows copied back from the shards. Lock: ACCESS EXCLUSIVE on it and the tables linked to it.`,
          `  IF ${isCitusTable(schema, s.table)} THEN`,
          `    PERFORM undistribute_table(${literal(regclassText(schema, s.table))}, cascade_via_foreign_keys => true);`,
          `  END IF;`,
        ].join('\n'),
      );
    down.unshift(
      `-- ─── back to local tables (undistribute_table; cascade_via_foreign_keys: linked tables go together) ───`,
      doBlock(undo.join('\n')),
      '',
    );
  }
  return { up, down, meta, tables };
}

/** A Citus local table (added to the metadata because of a foreign key to a reference table) is distributed too. */
function isCitusLocal(schema: string, table: string): string {
  return `EXISTS (SELECT FROM pg_dist_partition WHERE logicalrelid = ${literal(regclassText(schema, table))}::regclass AND partmethod = 'n' AND repmodel <> 't')`;
}

type KeyStep = Extract<DistributeStep, { kind: 'citus-primary-key' }> & { unique: string };

/** `conkey` (or any int2[] of attribute numbers of `rel`) is exactly `columns`, in order. */
const keyIs = (conkey: string, rel: string, columns: string[]) =>
  `${conkey} = ARRAY(SELECT a.attnum FROM unnest(ARRAY[${columns.map(literal).join(', ')}]::text[]) WITH ORDINALITY AS x(col, o)` +
  ` JOIN pg_catalog.pg_attribute a ON a.attrelid = ${rel} AND a.attname = x.col ORDER BY x.o)`;

/**
 * Inside the distribute transaction, after the foreign keys between the tables to distribute are dropped and
 * before the table is distributed: the UNIQUE constraint on exactly the new primary key's columns goes, so the
 * table (and each shard) keeps one unique index on them, and the foreign keys re-added after distribution bind to
 * the primary key's index. Checked at run time: a valid, non-partial, non-deferrable UNIQUE on those columns in
 * that order while the primary key holds them; kept, with a NOTICE, while anything still depends on it (or its
 * index is the replica identity's or the CLUSTER one: dropping it would change the table).
 */
export function dropRedundantUnique(schema: string, k: KeyStep): string[] {
  const tn = commentName(schema, k.table);
  const reg = `${literal(regclassText(schema, k.table))}::regclass`;
  const cols = commentText(k.newColumns.join(', '));
  return [
    `  -- ${tn}: UNIQUE ${commentName(k.unique)} (${cols}) now equals the primary key: two identical unique indexes, both`,
    `  -- written on every insert. Dropped here, before ${tn} is distributed (its shards get one index), so the foreign keys`,
    `  -- re-added below bind to the primary key's index. Kept, with a NOTICE, while anything this phase does not drop and`,
    `  -- re-add still depends on it (a foreign key from a table not distributed here), or it is the replica identity's`,
    `  -- (or CLUSTER) index. Lock: ACCESS EXCLUSIVE on ${tn}, an instant (no scan), held until this block commits.`,
    `  SELECT con.oid, con.conindid INTO uq FROM pg_catalog.pg_constraint con JOIN pg_catalog.pg_index i ON i.indexrelid = con.conindid`,
    `   WHERE con.conrelid = ${reg} AND con.conname = ${literal(k.unique)} AND con.contype = 'u' AND NOT con.condeferrable`,
    `     AND i.indisvalid AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL`,
    `     AND ${keyIs('con.conkey', 'con.conrelid', k.newColumns)}`,
    `     AND EXISTS (SELECT FROM pg_catalog.pg_constraint pk WHERE pk.conrelid = con.conrelid AND pk.contype = 'p' AND pk.conkey = con.conkey);`,
    `  IF FOUND THEN`,
    `    -- What still needs it: dependents in pg_depend (the foreign keys not dropped above), and the index's roles`,
    `    -- outside pg_depend (dropping the replica identity's index would leave the table without one).`,
    `    SELECT nullif(concat_ws(', ',`,
    `        (SELECT string_agg(pg_catalog.pg_describe_object(d.classid, d.objid, d.objsubid), ', ' ORDER BY d.objid) FROM pg_catalog.pg_depend d`,
    `          WHERE ((d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid = uq.conindid)`,
    `              OR (d.refclassid = 'pg_catalog.pg_constraint'::regclass AND d.refobjid = uq.oid))`,
    `            AND NOT (d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = uq.conindid)),`,
    `        CASE WHEN i.indisreplident THEN 'the replica identity' END,`,
    `        CASE WHEN i.indisclustered THEN 'the CLUSTER mark' END), '')`,
    `      INTO deps FROM pg_catalog.pg_index i WHERE i.indexrelid = uq.conindid;`,
    `    IF deps IS NULL THEN`,
    `      ALTER TABLE ${qualified(schema, k.table)} DROP CONSTRAINT ${ident(k.unique)};`,
    `    ELSE`,
    `      RAISE NOTICE 'distribute: kept UNIQUE % on % (equal to its new primary key): % still depends on it; drop it once nothing does', ${literal(k.unique)}, ${reg}, deps;`,
    `    END IF;`,
    `  END IF;`,
  ];
}

/**
 * Down of a key swap whose UNIQUE constraint up dropped: the old primary key's and the UNIQUE constraint's
 * indexes built CONCURRENTLY (skipped when there, e.g. kept by up), then one transaction: the foreign keys bound
 * to the (tenant, key) primary key's index dropped, the keys swapped back, the UNIQUE constraint added from its
 * index, the foreign keys re-added (they bind to it, the only unique index on those columns left).
 */
function uniqueBack(schema: string, k: KeyStep): string[] {
  const t = qualified(schema, k.table);
  const tn = commentName(schema, k.table);
  const reg = `${literal(regclassText(schema, k.table))}::regclass`;
  const newCols = commentText(k.newColumns.join(', '));
  return [
    `-- ─── ${tn}: primary key back to (${commentText(k.columns.join(', '))}), UNIQUE ${commentName(k.unique)} (${newCols}) back ───`,
    concurrentIndex(schema, k.table, k.name, k.columns, true),
    `-- The UNIQUE constraint's index, as the composite phase built it (already there when up kept the constraint).`,
    concurrentIndex(schema, k.table, k.unique, k.newColumns, true),
    `-- One transaction: the foreign keys bound to the (${newCols}) primary key dropped, the keys swapped back, UNIQUE`,
    `-- ${commentName(k.unique)} added from its index, the foreign keys re-added (bound to it now). Lock: ACCESS EXCLUSIVE`,
    `-- on ${tn} and each referencing table while those keys are re-checked (a scan of each referencing table).`,
    doBlock(
      [
        `  IF EXISTS (SELECT FROM pg_catalog.pg_constraint WHERE conrelid = ${reg} AND conname = ${literal(k.newName)} AND contype = 'p') THEN`,
        `    SELECT coalesce(jsonb_agg(jsonb_build_object('tbl', con.conrelid::regclass::text, 'name', con.conname::text, 'def', pg_catalog.pg_get_constraintdef(con.oid)) ORDER BY con.conrelid, con.conname), '[]')`,
        `      INTO fks FROM pg_catalog.pg_constraint con`,
        `     WHERE con.contype = 'f' AND con.confrelid = ${reg}`,
        `       AND con.conindid = (SELECT pk.conindid FROM pg_catalog.pg_constraint pk WHERE pk.conrelid = ${reg} AND pk.conname = ${literal(k.newName)} AND pk.contype = 'p');`,
        `    FOR fk IN SELECT * FROM jsonb_to_recordset(fks) AS x(tbl text, name text, def text) LOOP`,
        `      EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', fk.tbl, fk.name);`,
        `    END LOOP;`,
        `    ALTER TABLE ${t} DROP CONSTRAINT ${ident(k.newName)},`,
        `      ADD CONSTRAINT ${ident(k.name)} PRIMARY KEY USING INDEX ${ident(k.name)};`,
        `    IF NOT EXISTS (SELECT FROM pg_catalog.pg_constraint WHERE conrelid = ${reg} AND conname = ${literal(k.unique)}) THEN`,
        `      ALTER TABLE ${t} ADD CONSTRAINT ${ident(k.unique)} UNIQUE USING INDEX ${ident(k.unique)};`,
        `    END IF;`,
        `    FOR fk IN SELECT * FROM jsonb_to_recordset(fks) AS x(tbl text, name text, def text) LOOP`,
        `      EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I %s', fk.tbl, fk.name, fk.def);`,
        `    END LOOP;`,
        `  END IF;`,
      ].join('\n'),
      '  fk record;\n  fks jsonb;',
    ),
    `-- (${commentText(k.columns.join(', '))}) is the primary key again, UNIQUE (${newCols}) is back.`,
    '',
  ];
}
