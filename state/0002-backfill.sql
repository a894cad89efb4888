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

-- One row per committed batch (keys and values as aligned jsonb arrays): recording stays cheap at
-- millions of rows. backfill_changed_rows shows one row per changed row.
CREATE TABLE {{schema}}.backfill_changes (
  id            bigserial PRIMARY KEY,
  run_id        text NOT NULL,               -- no FK: checked once per run, not once per batch
  table_schema  text NOT NULL,
  table_name    text NOT NULL,
  column_name   text NOT NULL,
  kind          text NOT NULL CHECK (kind IN ('fill', 'assign-orphan', 'detach')),
  rows          integer NOT NULL,
  keys          jsonb NOT NULL,              -- array of primary keys, each an object {column: value}
  old_values    jsonb,                       -- array aligned with keys; NULL for fill / assign-orphan
  new_values    jsonb,                       -- array aligned with keys; NULL for detach
  changed_at    timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX backfill_changes_run ON {{schema}}.backfill_changes (run_id);
COMMENT ON TABLE {{schema}}.backfill_changes IS 'crm-tenancy backfill: every value written (one row per batch), so `crm-tenancy undo RUN_ID` can restore it';

CREATE VIEW {{schema}}.backfill_changed_rows AS
SELECT c.id AS batch_id, c.run_id, c.table_schema, c.table_name, c.column_name, c.kind, k.key,
       c.old_values -> (k.i - 1)::int AS old_value, c.new_values -> (k.i - 1)::int AS new_value, c.changed_at
  FROM {{schema}}.backfill_changes c
 CROSS JOIN LATERAL jsonb_array_elements(c.keys) WITH ORDINALITY AS k(key, i);
COMMENT ON VIEW {{schema}}.backfill_changed_rows IS 'crm-tenancy backfill: one row per changed row (run, table, key, old and new value)';
