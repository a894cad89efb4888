-- The toolkit's own bookkeeping: one row per run of a command that changes data or schema.
CREATE TABLE {{schema}}.runs (
  id           text PRIMARY KEY,
  command      text NOT NULL,
  status       text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'done', 'failed', 'undone')),
  args         jsonb NOT NULL DEFAULT '{}'::jsonb,
  summary      jsonb,
  started_by   text NOT NULL DEFAULT current_user,
  started_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
  finished_at  timestamptz,
  undone_at    timestamptz
);
COMMENT ON TABLE {{schema}}.runs IS 'crm-tenancy: one row per run of backfill, dedupe, migrate down…; undo takes a run id';
