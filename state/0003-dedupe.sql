-- Dedupe bookkeeping: every removed duplicate (full row, archived before deletion) and every re-pointed reference.
CREATE TABLE {{schema}}.dedupe_archive (
  id            bigserial PRIMARY KEY,
  run_id        text NOT NULL REFERENCES {{schema}}.runs (id) ON DELETE CASCADE,
  table_schema  text NOT NULL,
  table_name    text NOT NULL,
  key           jsonb NOT NULL,              -- primary key of the removed row {column: value}
  kept_key      jsonb NOT NULL,              -- primary key of the row kept in its place
  row_data      jsonb NOT NULL,              -- the full removed row (to_jsonb)
  archived_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX dedupe_archive_run ON {{schema}}.dedupe_archive (run_id, id);
COMMENT ON TABLE {{schema}}.dedupe_archive IS 'crm-tenancy dedupe: removed duplicate rows, restorable with `crm-tenancy undo RUN_ID`';

CREATE TABLE {{schema}}.dedupe_repoints (
  id            bigserial PRIMARY KEY,
  run_id        text NOT NULL REFERENCES {{schema}}.runs (id) ON DELETE CASCADE,
  table_schema  text NOT NULL,
  table_name    text NOT NULL,              -- the referencing table
  constraint_name text NOT NULL,
  columns       text[] NOT NULL,            -- the referencing columns
  key           jsonb NOT NULL,             -- primary key of the referencing row
  old_values    jsonb NOT NULL,             -- array of the columns' values before (text)
  new_values    jsonb NOT NULL,             -- array of the columns' values after (text)
  repointed_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX dedupe_repoints_run ON {{schema}}.dedupe_repoints (run_id, id);
COMMENT ON TABLE {{schema}}.dedupe_repoints IS 'crm-tenancy dedupe: references moved from a removed duplicate to the kept row';
