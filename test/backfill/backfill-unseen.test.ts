// backfill on a schema it has never seen: uuid tenants, hostile identifiers, three hops, orphans, conflicts, cycles.
import { beforeAll, describe, expect, it } from 'vitest';
import { parseManifest, type Manifest } from '../../src/config/manifest.js';
import { runBackfill } from '../../src/backfill/backfill-runner.js';
import { ident, qualified } from '../../src/db/quote.js';
import { memoryLogger } from '../../src/logger.js';
import { runCli } from '../support/cli.js';
import { useTestDatabase } from '../support/database.js';
import { tableChecksums, writeConfig } from './helpers.js';

const SCHEMA = 'Org "Space"; x.y';
const STATE = 'st ate;"1"';
const PROJECTS = 'Pröjects "A"';
const TASKS = 'tasks; --';
const SUB = 'sub.tasks';
const ASSIGN = 'ä'.repeat(20) + 'x'.repeat(23); // 63 bytes: the longest identifier PostgreSQL keeps
const A = '00000000-0000-0000-0000-00000000000a';
const B = '00000000-0000-0000-0000-00000000000b';

const raw = {
  schema: SCHEMA,
  state_schema: STATE,
  tenant: { table: 'organizations', key: 'org_id', column: 'org_id', setting: 'app.current_org' },
  roles: { app: ['unseen_app'] },
  tables: {
    teams: {},
    [PROJECTS]: { backfill: ['team id'] },
    [TASKS]: { backfill: ['project'] },
    [SUB]: { backfill: ['task_id', 'owner_team'] },
    folders: { backfill: ['parent_id', 'team_id'] },
    [ASSIGN]: { backfill: ['task_id'] },
  },
};

describe('backfill on an unseen schema (uuid tenant, hostile names)', () => {
  const db = useTestDatabase();
  const manifest: Manifest = parseManifest(raw);
  const t = (name: string) => qualified(SCHEMA, name);
  let original: Record<string, string>;

  beforeAll(async () => {
    const c = db().client;
    expect(Buffer.byteLength(ASSIGN)).toBe(63);
    await c.query(`CREATE SCHEMA ${ident(SCHEMA)}`);
    await c.query(`CREATE TABLE ${t('organizations')} (org_id uuid PRIMARY KEY, name text NOT NULL)`);
    await c.query(`INSERT INTO ${t('organizations')} VALUES ($1, 'A'), ($2, 'B')`, [A, B]);
    await c.query(`CREATE TABLE ${t('teams')} (id bigint PRIMARY KEY, org_id uuid NOT NULL REFERENCES ${t('organizations')})`);
    await c.query(`INSERT INTO ${t('teams')} VALUES (1, $1), (2, $2)`, [A, B]);
    await c.query(`CREATE TABLE ${t(PROJECTS)} (id bigint PRIMARY KEY, org_id uuid, "team id" bigint REFERENCES ${t('teams')})`);
    // 3: no team (orphan); 4: already B although its team is A (never overwritten; cross-tenant).
    await c.query(`INSERT INTO ${t(PROJECTS)} VALUES (1, NULL, 1), (2, NULL, 2), (3, NULL, NULL), (4, $1, 1)`, [B]);
    await c.query(`CREATE TABLE ${t(TASKS)} (id bigint PRIMARY KEY, org_id uuid, project bigint REFERENCES ${t(PROJECTS)})`);
    await c.query(`INSERT INTO ${t(TASKS)} VALUES (1, NULL, 1), (2, NULL, 2), (3, NULL, 3), (4, NULL, NULL)`);
    await c.query(
      `CREATE TABLE ${t(SUB)} (id bigint PRIMARY KEY, org_id uuid, task_id bigint REFERENCES ${t(TASKS)}, owner_team bigint REFERENCES ${t('teams')})`,
    );
    // 1: three hops; 2: two sources agree; 3: sources disagree; 4: parent is an orphan; 5: one source left.
    await c.query(`INSERT INTO ${t(SUB)} VALUES (1, NULL, 1, NULL), (2, NULL, 2, 2), (3, NULL, 1, 2), (4, NULL, 3, NULL), (5, NULL, 3, 1)`);
    await c.query(
      `CREATE TABLE ${t('folders')} (id bigint PRIMARY KEY, org_id uuid, parent_id bigint REFERENCES ${t('folders')}, team_id bigint REFERENCES ${t('teams')})`,
    );
    // Children have smaller keys than their parents: each pass places one more level.
    await c.query(`INSERT INTO ${t('folders')} VALUES (10, NULL, NULL, 1), (5, NULL, 10, NULL), (1, NULL, 5, NULL)`);
    await c.query(
      `CREATE TABLE ${t(ASSIGN)} (task_id bigint NOT NULL REFERENCES ${t(TASKS)}, member text NOT NULL, org_id uuid, PRIMARY KEY (task_id, member))`,
    );
    await c.query(`INSERT INTO ${t(ASSIGN)} VALUES (1, 'x', NULL), (2, 'y', NULL), (3, 'z', NULL), (1, 'w', $1)`, [B]);
    original = await tableChecksums(c, SCHEMA);
  });

  const tenants = async (table: string) =>
    (await db().client.query(`SELECT * FROM ${t(table)} ORDER BY 1, 2`)).rows.map((r) => r.org_id);

  it('places every derivable row (three hops, passes for a self-reference), leaves orphans and conflicts untouched and reports each: exit 1', async () => {
    const config = await writeConfig(JSON.stringify(raw));
    const res = await runCli(['backfill', '--config', config, '--database-url', db().url, '--json', '--batch-size', '2', '--target-batch-ms', '0']);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(1);
    const report = JSON.parse(res.stdout);

    expect(await tenants(PROJECTS)).toEqual([A, B, null, B]);
    expect(await tenants(TASKS)).toEqual([A, B, null, null]);
    expect(await tenants(SUB)).toEqual([A, B, null, null, A]);
    expect(await tenants('folders')).toEqual([A, A, A]);
    const assign = (await db().client.query(`SELECT task_id, member, org_id FROM ${t(ASSIGN)} ORDER BY 1, 2`)).rows;
    expect(assign).toEqual([
      { task_id: '1', member: 'w', org_id: B },
      { task_id: '1', member: 'x', org_id: A },
      { task_id: '2', member: 'y', org_id: B },
      { task_id: '3', member: 'z', org_id: null },
    ]);

    expect(report.orphans).toEqual([
      { table: PROJECTS, key: { id: 3 }, candidates: [] },
      { table: TASKS, key: { id: 3 }, candidates: [] },
      { table: TASKS, key: { id: 4 }, candidates: [] },
      { table: SUB, key: { id: 4 }, candidates: [] },
      { table: ASSIGN, key: { task_id: 3, member: 'z' }, candidates: [] },
    ]);
    expect(report.conflicts).toEqual([{ table: SUB, key: { id: 3 }, candidates: [A, B] }]);
    const folders = report.tables.find((x: { table: string }) => x.table === 'folders');
    expect(folders).toMatchObject({ filled: 3, passes: 4 });
    // Parents first, whatever the manifest order.
    const order = report.tables.map((x: { table: string }) => x.table);
    expect(order.indexOf(PROJECTS)).toBeLessThan(order.indexOf(TASKS));
    expect(order.indexOf(TASKS)).toBeLessThan(order.indexOf(SUB));
    expect(order.indexOf(TASKS)).toBeLessThan(order.indexOf(ASSIGN));
  });

  it('--assign-orphans-to assigns only the orphans, logs each, and their children derive from them in the same run', async () => {
    const logger = memoryLogger();
    const result = await runBackfill({ databaseUrl: db().url, manifest, assignOrphansTo: A, logger });
    expect(await tenants(PROJECTS)).toEqual([A, B, A, B]);
    expect(await tenants(TASKS)).toEqual([A, B, A, A]);
    expect(await tenants(SUB)).toEqual([A, B, null, A, A]); // the conflict is never assigned
    expect(result.conflicts).toEqual([{ table: SUB, key: { id: 3 }, candidates: [A, B] }]);
    expect(result.orphans).toEqual([]);
    expect(result.ok).toBe(false);
    const byTable = Object.fromEntries(result.tables.map((x) => [x.table, [x.filled, x.assigned]]));
    expect(byTable[PROJECTS]).toEqual([0, 1]);
    expect(byTable[TASKS]).toEqual([1, 1]); // task 3 from its (assigned) project, task 4 assigned
    const logged = logger.lines.filter((l) => l.message.includes('orphan assigned')).map((l) => l.message);
    expect(logged).toHaveLength(2);
    expect(logged.join('\n')).toContain(`${PROJECTS} {"id":3}`);
    expect(result.assignedOrphans).toEqual([
      { table: PROJECTS, key: { id: 3 }, tenant: A },
      { table: TASKS, key: { id: 4 }, tenant: A },
    ]);
  });

  it('--detach-cross-tenant detaches a nullable FK and reports a NOT NULL one (left alone, exit 1)', async () => {
    const result = await runBackfill({ databaseUrl: db().url, manifest, detachCrossTenant: true });
    const byFk = Object.fromEntries(result.crossTenant.filter((c) => c.found > 0).map((c) => [`${c.table}.${c.column}`, c]));
    expect(byFk[`${PROJECTS}.team id`]).toMatchObject({ found: 1, detached: 1, remaining: 0, nullable: true });
    expect(byFk[`${ASSIGN}.task_id`]).toMatchObject({ found: 1, detached: 0, remaining: 1, nullable: false });
    expect(byFk[`${ASSIGN}.task_id`].samples[0].key).toEqual({ task_id: 1, member: 'w' });
    const { rows } = await db().client.query(`SELECT "team id" AS team FROM ${t(PROJECTS)} WHERE id = 4`);
    expect(rows[0].team).toBeNull();
    expect(result.ok).toBe(false);
  });

  it('undo of every run, newest first, restores the original data exactly', async () => {
    const { rows } = await db().client.query(`SELECT id FROM ${qualified(STATE, 'runs')} ORDER BY started_at DESC`);
    expect(rows.length).toBe(3);
    const { undoRun } = await import('../../src/undo/undo-runner.js');
    for (const r of rows) await undoRun({ databaseUrl: db().url, manifest, runId: r.id });
    expect(await tableChecksums(db().client, SCHEMA)).toEqual(original);
  });
});

describe('backfill after the composite-keys migration ((tenant, fk) → parent (tenant, id))', () => {
  const db = useTestDatabase();

  it('derives along the composite FK whose tenant part is still NULL', async () => {
    const c = db().client;
    await c.query(`CREATE SCHEMA comp`);
    await c.query(`CREATE TABLE comp.orgs (id int PRIMARY KEY)`);
    await c.query(`INSERT INTO comp.orgs VALUES (1), (2)`);
    await c.query(`CREATE TABLE comp.lists (id int PRIMARY KEY, org int NOT NULL REFERENCES comp.orgs, UNIQUE (org, id))`);
    await c.query(`INSERT INTO comp.lists VALUES (10, 1), (20, 2)`);
    await c.query(`CREATE TABLE comp.items (id int PRIMARY KEY, org int REFERENCES comp.orgs, list int,
                     FOREIGN KEY (org, list) REFERENCES comp.lists (org, id))`);
    await c.query(`INSERT INTO comp.items VALUES (1, NULL, 10), (2, NULL, 20), (3, 2, 20)`);
    const manifest = parseManifest({
      schema: 'comp',
      tenant: { table: 'orgs', key: 'id', column: 'org', setting: 'app.org' },
      roles: { app: ['comp_app'] },
      tables: { lists: {}, items: { backfill: ['list'] } },
    });
    const result = await runBackfill({ databaseUrl: db().url, manifest });
    expect(result.ok).toBe(true);
    expect((await c.query(`SELECT id, org FROM comp.items ORDER BY id`)).rows).toEqual([
      { id: 1, org: 1 },
      { id: 2, org: 2 },
      { id: 3, org: 2 },
    ]);
  });
});
