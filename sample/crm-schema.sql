-- The sample CRM (database "sales_crm") as the customer's report left it: company_id added "here
-- and there", filtered in application code, no row-level security. Tables only; data comes from
-- crm-data.sql and keys/indexes from crm-constraints.sql (loaded after the data, which is faster).
-- Runs in whatever schema is first on the search_path.

CREATE TABLE companies (
  id          serial PRIMARY KEY,
  name        text NOT NULL,
  domain      text,
  plan        text NOT NULL DEFAULT 'standard',
  created_at  timestamptz NOT NULL DEFAULT now()
);

-- System tables (exempt in tenancy.yaml) ------------------------------------------------------
CREATE TABLE roles (
  id           serial PRIMARY KEY,
  name         text NOT NULL UNIQUE,
  permissions  jsonb NOT NULL DEFAULT '[]'
);
CREATE TABLE teams (
  id          serial PRIMARY KEY,
  name        text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);

-- Tenant tables ---------------------------------------------------------------------------------
CREATE TABLE users (
  id             serial PRIMARY KEY,
  company_id     integer,
  email          text NOT NULL,
  password_hash  text NOT NULL,
  full_name      text NOT NULL,
  role_id        integer,
  team_id        integer,
  is_active      boolean NOT NULL DEFAULT true,
  created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE contacts (
  id            serial PRIMARY KEY,
  company_id    integer NOT NULL,
  owner_id      integer,
  first_name    text NOT NULL,
  last_name     text NOT NULL,
  email         text,
  phone         text,
  company_name  text,
  status        text NOT NULL DEFAULT 'lead',
  created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE pipelines (
  id          serial PRIMARY KEY,
  company_id  integer,
  name        text NOT NULL,
  is_default  boolean NOT NULL DEFAULT false,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE pipeline_stages (
  id           serial PRIMARY KEY,
  company_id   integer,
  pipeline_id  integer NOT NULL,
  name         text NOT NULL,
  position     integer NOT NULL,
  probability  integer NOT NULL DEFAULT 0
);
CREATE TABLE deals (
  id              serial PRIMARY KEY,
  company_id      integer,
  contact_id      integer,
  pipeline_id     integer,
  stage_id        integer,
  owner_id        integer,
  title           text NOT NULL,
  value           numeric(12, 2) NOT NULL DEFAULT 0,
  currency        text NOT NULL DEFAULT 'USD',
  status          text NOT NULL DEFAULT 'open',
  expected_close  date,
  created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE activities (
  id          serial PRIMARY KEY,
  company_id  integer,
  user_id     integer,
  contact_id  integer,
  deal_id     integer,
  type        text NOT NULL,
  subject     text NOT NULL,
  due_at      timestamptz,
  done        boolean NOT NULL DEFAULT false
);
CREATE TABLE twilio_settings (
  id              serial PRIMARY KEY,
  company_id      integer,
  account_sid     text NOT NULL,
  auth_token_enc  text NOT NULL,
  default_number  text,
  created_by      integer,
  created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE phone_numbers (
  id                  serial PRIMARY KEY,
  company_id          integer,
  user_id             integer,
  twilio_settings_id  integer,
  number              text NOT NULL,
  friendly_name       text,
  capabilities        text[] NOT NULL DEFAULT '{voice,sms}'
);
CREATE TABLE calls (
  id               serial PRIMARY KEY,
  company_id       integer,
  user_id          integer,
  contact_id       integer,
  phone_number_id  integer,
  direction        text NOT NULL,
  duration_s       integer NOT NULL DEFAULT 0,
  twilio_sid       text,
  created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE sms_messages (
  id               serial PRIMARY KEY,
  company_id       integer,
  user_id          integer,
  contact_id       integer,
  phone_number_id  integer,
  direction        text NOT NULL,
  body             text NOT NULL,
  status           text NOT NULL DEFAULT 'sent',
  created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE sms_templates (
  id          serial PRIMARY KEY,
  company_id  integer,
  name        text NOT NULL,
  body        text NOT NULL,
  created_by  integer
);
CREATE TABLE email_templates (
  id          serial PRIMARY KEY,
  company_id  integer,
  name        text NOT NULL,
  subject     text NOT NULL,
  body        text NOT NULL,
  created_by  integer
);
CREATE TABLE emails (
  id          serial PRIMARY KEY,
  company_id  integer,
  user_id     integer,
  contact_id  integer,
  deal_id     integer,
  subject     text NOT NULL,
  body        text NOT NULL,
  direction   text NOT NULL DEFAULT 'outbound',
  sent_at     timestamptz
);
-- The report says email_campaigns got company_id "earlier": only the model did, not the table.
CREATE TABLE email_campaigns (
  id            serial PRIMARY KEY,
  template_id   integer,
  created_by    integer,
  name          text NOT NULL,
  status        text NOT NULL DEFAULT 'draft',
  scheduled_at  timestamptz
);
CREATE TABLE bulk_email_campaigns (
  id                serial PRIMARY KEY,
  company_id        integer,
  campaign_id       integer,
  name              text NOT NULL,
  recipients_count  integer NOT NULL DEFAULT 0,
  status            text NOT NULL DEFAULT 'queued'
);
CREATE TABLE folders (
  id          serial PRIMARY KEY,
  company_id  integer,
  parent_id   integer,
  name        text NOT NULL,
  created_by  integer
);
CREATE TABLE files (
  id           serial PRIMARY KEY,
  company_id   integer NOT NULL,
  folder_id    integer,
  uploaded_by  integer,
  name         text NOT NULL,
  size_bytes   bigint NOT NULL DEFAULT 0,
  mime_type    text,
  storage_key  text NOT NULL
);
CREATE TABLE documents (
  id          serial PRIMARY KEY,
  company_id  integer,
  folder_id   integer,
  deal_id     integer,
  title       text NOT NULL,
  status      text NOT NULL DEFAULT 'draft',
  created_by  integer
);
CREATE TABLE document_signatures (
  id            serial PRIMARY KEY,
  company_id    integer,
  document_id   integer NOT NULL,
  signer_email  text NOT NULL,
  status        text NOT NULL DEFAULT 'pending',
  signed_at     timestamptz
);
CREATE TABLE quotes (
  id           serial PRIMARY KEY,
  company_id   integer,
  deal_id      integer,
  contact_id   integer,
  number       text NOT NULL,
  amount       numeric(12, 2) NOT NULL,
  status       text NOT NULL DEFAULT 'draft',
  valid_until  date
);
CREATE TABLE payment_history (
  id          serial PRIMARY KEY,
  company_id  integer,
  quote_id    integer,
  amount      numeric(12, 2) NOT NULL,
  currency    text NOT NULL DEFAULT 'USD',
  method      text NOT NULL DEFAULT 'card',
  paid_at     timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE notifications (
  id          serial PRIMARY KEY,
  company_id  integer,
  user_id     integer,
  type        text NOT NULL,
  message     text NOT NULL,
  read_at     timestamptz,
  created_at  timestamptz NOT NULL DEFAULT now()
);
-- "PerformanceAlert - Added company_id column": in the model; the migration never ran.
CREATE TABLE performance_alerts (
  id            serial PRIMARY KEY,
  user_id       integer,
  metric        text NOT NULL,
  threshold     numeric NOT NULL,
  triggered_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE workflows (
  id          serial PRIMARY KEY,
  company_id  integer,
  name        text NOT NULL,
  trigger     text NOT NULL,
  definition  jsonb NOT NULL DEFAULT '{}',
  is_active   boolean NOT NULL DEFAULT true,
  created_by  integer
);
CREATE TABLE workflow_executions (
  id           serial PRIMARY KEY,
  company_id   integer,
  workflow_id  integer NOT NULL,
  deal_id      integer,
  status       text NOT NULL DEFAULT 'done',
  started_at   timestamptz NOT NULL DEFAULT now(),
  finished_at  timestamptz
);
-- "conversations.py - Added company_id column (earlier)": not in the table either.
CREATE TABLE user_conversations (
  id               serial PRIMARY KEY,
  user_id          integer,
  contact_id       integer,
  channel          text NOT NULL DEFAULT 'email',
  last_message_at  timestamptz
);
CREATE TABLE invitations (
  id           serial PRIMARY KEY,
  company_id   integer,
  email        text NOT NULL,
  invited_by   integer,
  role_id      integer,
  token        text NOT NULL,
  accepted_at  timestamptz,
  expires_at   timestamptz NOT NULL
);

-- System and analytics tables the report calls exempt ---------------------------------------------
CREATE TABLE sessions (
  id          bigserial PRIMARY KEY,
  user_id     integer NOT NULL,
  token       text NOT NULL UNIQUE,
  expires_at  timestamptz NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE audit_logs (
  id          bigserial PRIMARY KEY,
  user_id     integer,
  action      text NOT NULL,
  entity      text NOT NULL,
  entity_id   integer,
  details     jsonb NOT NULL DEFAULT '{}',
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE security_logs (
  id          bigserial PRIMARY KEY,
  event       text NOT NULL,
  ip          inet,
  user_id     integer,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE pipeline_metrics (
  id           serial PRIMARY KEY,
  pipeline_id  integer NOT NULL,
  day          date NOT NULL,
  deals_count  integer NOT NULL DEFAULT 0,
  total_value  numeric(14, 2) NOT NULL DEFAULT 0
);
CREATE TABLE activity_metrics (
  id        serial PRIMARY KEY,
  user_id   integer NOT NULL,
  day       date NOT NULL,
  calls     integer NOT NULL DEFAULT 0,
  emails    integer NOT NULL DEFAULT 0,
  meetings  integer NOT NULL DEFAULT 0
);
