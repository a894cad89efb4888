-- Policy bookkeeping: which policy file was applied to which table, with what checksum, and the live state it left.
CREATE TABLE {{schema}}.policy_files (
  table_schema  text NOT NULL,
  table_name    text NOT NULL,
  file          text NOT NULL,
  checksum      text NOT NULL,               -- sha256 of the whole file as applied
  fingerprint   jsonb NOT NULL,              -- RLS flags + policies (pg_get_expr) right after applying: drift = differs now
  applied_by    text NOT NULL DEFAULT current_user,
  applied_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (table_schema, table_name)
);
COMMENT ON TABLE {{schema}}.policy_files IS 'crm-tenancy policies apply: the checksum of each applied policy file (only changed files are re-applied)';
