-- Backfill bookkeeping: where each table's run stopped (resume after kill -9) and every value it changed (undo).
CREATE TABLE {{schema}}.backfill_progress (
  run_id        text NOT NULL REFERENCES {{schema}}.runs (id) ON DELETE CASCADE,
  table_schema  text NOT NULL,
  table_name    text NOT NULL,
  phase         text NOT NULL,               -- 'fill', or 'detach:<constraint>'
  pass          integer NOT NULL DEFAULT 1,  -- self-references / cycles: passes until one places nothing
  last_key      jsonb,                       -- primary key (array of text) of the last committed batch
  pass_done     boolean NOT NULL DEFAULT false,
  pass_changed  bigint NOT NULL DEFAULT 0,
  changed       bigint NOT NULL DEFAULT 0,
  rows_done     bigint NOT NULL DEFAULT 0,
  batches       bigint NOT NULL DEFAULT 0,
  status        text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'done')),
  updated_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (run_id, table_schema, table_name, phase)
);
COMMENT ON TABLE {{schema}}.backfill_progress IS 'crm-tenancy backfill: progress per run, table and phase (resumable)';

CREATE TABLE {{schema}}.backfill_changes (
  id            bigserial PRIMARY KEY,
  run_id        text NOT NULL REFERENCES {{schema}}.runs (id) ON DELETE CASCADE,
  table_schema  text NOT NULL,
  table_name    text NOT NULL,
  column_name   text NOT NULL,
  kind          text NOT NULL CHECK (kind IN ('fill', 'assign-orphan', 'detach')),
  key           jsonb NOT NULL,              -- the row's primary key as an object {column: value}
  old_value     jsonb,                       -- NULL for fill / assign-orphan
  new_value     jsonb,                       -- NULL for detach
  changed_at    timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX backfill_changes_run ON {{schema}}.backfill_changes (run_id, table_schema, table_name, column_name, id);
COMMENT ON TABLE {{schema}}.backfill_changes IS 'crm-tenancy backfill: every value written, so `crm-tenancy undo RUN_ID` can restore it';
