-- migrate down: tenant-column values archived before a down migration drops the column (--force).
CREATE TABLE {{schema}}.migrate_archive (
  id            bigserial PRIMARY KEY,
  run_id        text NOT NULL REFERENCES {{schema}}.runs (id),
  migration     text NOT NULL,
  table_schema  text NOT NULL,
  table_name    text NOT NULL,
  column_name   text NOT NULL,
  -- The row's primary key (or the whole row without the column, when it has none).
  row_key       jsonb NOT NULL,
  value         text NOT NULL,
  archived_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX migrate_archive_run_idx ON {{schema}}.migrate_archive (run_id);
COMMENT ON TABLE {{schema}}.migrate_archive IS 'crm-tenancy: tenant-column values archived by migrate down --force before the column was dropped';
