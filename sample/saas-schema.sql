-- The second sample: a SaaS application's database in Rails conventions (modelled on real
-- open-source SaaS schemas), before its tenancy rollout. What the sample CRM does not have:
--   uuid tenant key organizations.id / organization_id; soft deletes (deleted_at) whose real unique
--   keys are partial (… WHERE deleted_at IS NULL); polymorphic *_type/*_id pairs without foreign
--   keys (payments, paper_trail versions, ActiveStorage attachments, custom field values); shared
--   predefined rows with a NULL tenant protected by a trigger (roles, notification templates); a
--   pg_partman-style event table partitioned by month without a primary key; reporting views and a
--   materialized view; tables reached only through one or two hops (line items, their taxes);
--   composite (membership_id, organization_id) foreign keys; global lookups; and {{modules}}
--   generated feature tables so the schema has ~100 tables.

CREATE TABLE organizations (
  id uuid PRIMARY KEY,
  name text NOT NULL,
  slug text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Global identities: a user belongs to organizations through memberships.
CREATE TABLE users (
  id uuid PRIMARY KEY,
  email text NOT NULL UNIQUE,
  name text NOT NULL,
  encrypted_password text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- Global lookups.
CREATE TABLE plans (id bigint PRIMARY KEY, name text NOT NULL UNIQUE, price_cents integer NOT NULL);
CREATE TABLE countries (code char(2) PRIMARY KEY, name text NOT NULL);

-- Predefined roles (organization_id NULL, shared by every organization) and each organization's custom roles.
CREATE TABLE roles (
  id uuid PRIMARY KEY,
  organization_id uuid REFERENCES organizations (id),
  name text NOT NULL,
  predefined boolean NOT NULL DEFAULT false,
  permissions jsonb NOT NULL DEFAULT '[]',
  created_at timestamptz NOT NULL DEFAULT now(),
  CHECK (predefined = (organization_id IS NULL))
);
CREATE UNIQUE INDEX index_roles_on_organization_id_and_name ON roles (organization_id, name);
CREATE FUNCTION protect_predefined_roles() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.predefined THEN
    RAISE EXCEPTION 'predefined role % cannot be changed or deleted', OLD.name USING ERRCODE = 'check_violation';
  END IF;
  RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END $$;
CREATE TRIGGER protect_predefined_roles BEFORE UPDATE OR DELETE ON roles
  FOR EACH ROW EXECUTE FUNCTION protect_predefined_roles();

CREATE TABLE memberships (
  id uuid PRIMARY KEY,
  organization_id uuid NOT NULL REFERENCES organizations (id),
  user_id uuid NOT NULL REFERENCES users (id),
  role_id uuid NOT NULL REFERENCES roles (id),
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (organization_id, user_id),
  UNIQUE (id, organization_id)
);

CREATE TABLE teams (
  id uuid PRIMARY KEY,
  organization_id uuid NOT NULL REFERENCES organizations (id),
  name text NOT NULL,
  deleted_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX index_teams_on_organization_id_and_name ON teams (organization_id, name) WHERE deleted_at IS NULL;

-- A composite foreign key through memberships (membership_id, organization_id).
CREATE TABLE team_members (
  id uuid PRIMARY KEY,
  organization_id uuid NOT NULL,
  team_id uuid NOT NULL REFERENCES teams (id),
  membership_id uuid NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (membership_id, organization_id) REFERENCES memberships (id, organization_id)
);

CREATE TABLE customers (
  id uuid PRIMARY KEY,
  organization_id uuid NOT NULL REFERENCES organizations (id),
  name text NOT NULL,
  email text,
  country_code char(2) REFERENCES countries (code),
  deleted_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX index_customers_on_organization_id_and_email ON customers (organization_id, email) WHERE deleted_at IS NULL;

-- The real key is UNIQUE (organization_id, code) WHERE deleted_at IS NULL; the application enforced
-- it in code only, so the index is missing and duplicates slipped in.
CREATE TABLE billing_codes (
  id uuid PRIMARY KEY,
  organization_id uuid NOT NULL REFERENCES organizations (id),
  code text NOT NULL,
  description text NOT NULL,
  deleted_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE invoices (
  id uuid PRIMARY KEY,
  organization_id uuid NOT NULL REFERENCES organizations (id),
  customer_id uuid NOT NULL REFERENCES customers (id),
  number text NOT NULL,
  status text NOT NULL DEFAULT 'draft',
  total_cents bigint NOT NULL DEFAULT 0,
  deleted_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX index_invoices_on_organization_id ON invoices (organization_id);

-- One hop from invoices, two hops for their taxes: no tenant column of their own.
CREATE TABLE invoice_line_items (
  id uuid PRIMARY KEY,
  invoice_id uuid NOT NULL REFERENCES invoices (id),
  billing_code_id uuid REFERENCES billing_codes (id),
  description text NOT NULL,
  amount_cents bigint NOT NULL
);
CREATE TABLE line_item_taxes (
  id uuid PRIMARY KEY,
  line_item_id uuid NOT NULL REFERENCES invoice_line_items (id),
  rate numeric(5, 2) NOT NULL,
  amount_cents bigint NOT NULL
);

CREATE TABLE payment_requests (
  id uuid PRIMARY KEY,
  organization_id uuid NOT NULL REFERENCES organizations (id),
  customer_id uuid NOT NULL REFERENCES customers (id),
  amount_cents bigint NOT NULL,
  status text NOT NULL DEFAULT 'open',
  created_at timestamptz NOT NULL DEFAULT now()
);

-- Polymorphic: payable_type 'Invoice' → invoices, 'PaymentRequest' → payment_requests. No foreign key.
CREATE TABLE payments (
  id uuid PRIMARY KEY,
  organization_id uuid NOT NULL REFERENCES organizations (id),
  payable_type text NOT NULL,
  payable_id uuid NOT NULL,
  amount_cents bigint NOT NULL,
  paid_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX index_payments_on_payable ON payments (payable_type, payable_id);

CREATE TABLE projects (
  id uuid PRIMARY KEY,
  organization_id uuid REFERENCES organizations (id),
  customer_id uuid REFERENCES customers (id),
  name text NOT NULL,
  archived_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE tasks (
  id uuid PRIMARY KEY,
  organization_id uuid REFERENCES organizations (id),
  project_id uuid NOT NULL REFERENCES projects (id),
  assignee_id uuid REFERENCES memberships (id),
  title text NOT NULL,
  deleted_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- No organization_id yet: added by the rollout, filled through task_id.
CREATE TABLE comments (
  id uuid PRIMARY KEY,
  task_id uuid NOT NULL REFERENCES tasks (id),
  author_id uuid REFERENCES memberships (id),
  body text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE labels (
  id uuid PRIMARY KEY,
  organization_id uuid NOT NULL REFERENCES organizations (id),
  name text NOT NULL,
  UNIQUE (organization_id, name)
);
-- A join table without a tenant column.
CREATE TABLE task_labels (
  task_id uuid NOT NULL REFERENCES tasks (id),
  label_id uuid NOT NULL REFERENCES labels (id),
  PRIMARY KEY (task_id, label_id)
);

-- paper_trail: the change history of every model, reached only through item_type/item_id (text).
CREATE TABLE versions (
  id bigserial PRIMARY KEY,
  item_type text NOT NULL,
  item_id text NOT NULL,
  event text NOT NULL,
  whodunnit text,
  object jsonb,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX index_versions_on_item_type_and_item_id ON versions (item_type, item_id);

-- ActiveStorage: blobs are reached through attachments, attachments through record_type/record_id.
CREATE TABLE active_storage_blobs (
  id bigserial PRIMARY KEY,
  key text NOT NULL UNIQUE,
  filename text NOT NULL,
  content_type text,
  byte_size bigint NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE active_storage_attachments (
  id bigserial PRIMARY KEY,
  name text NOT NULL,
  record_type text NOT NULL,
  record_id uuid NOT NULL,
  blob_id bigint NOT NULL REFERENCES active_storage_blobs (id),
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX index_active_storage_attachments_on_record ON active_storage_attachments (record_type, record_id);

CREATE TABLE custom_fields (
  id uuid PRIMARY KEY,
  organization_id uuid NOT NULL REFERENCES organizations (id),
  entity_type text NOT NULL,
  name text NOT NULL,
  UNIQUE (organization_id, entity_type, name)
);
CREATE TABLE custom_field_values (
  id uuid PRIMARY KEY,
  custom_field_id uuid NOT NULL REFERENCES custom_fields (id),
  record_type text NOT NULL,
  record_id uuid NOT NULL,
  value text
);

-- One row per organization.
CREATE TABLE organization_settings (
  id uuid PRIMARY KEY,
  organization_id uuid NOT NULL REFERENCES organizations (id) UNIQUE,
  timezone text NOT NULL DEFAULT 'UTC',
  locale text NOT NULL DEFAULT 'en'
);
CREATE TABLE subscriptions (
  id uuid PRIMARY KEY,
  organization_id uuid NOT NULL REFERENCES organizations (id),
  plan_id bigint NOT NULL REFERENCES plans (id),
  status text NOT NULL
);

-- Global defaults (organization_id NULL) and each organization's overrides.
CREATE TABLE notification_templates (
  id uuid PRIMARY KEY,
  organization_id uuid REFERENCES organizations (id),
  key text NOT NULL,
  body text NOT NULL
);
CREATE UNIQUE INDEX index_notification_templates_on_organization_id_and_key ON notification_templates (organization_id, key);

CREATE TABLE api_keys (
  id uuid PRIMARY KEY,
  organization_id uuid NOT NULL REFERENCES organizations (id),
  token_digest text NOT NULL UNIQUE,
  last_used_at timestamptz
);
CREATE TABLE webhooks (
  id uuid PRIMARY KEY,
  organization_id uuid NOT NULL REFERENCES organizations (id),
  url text NOT NULL,
  secret text NOT NULL
);
CREATE TABLE webhook_deliveries (
  id bigserial PRIMARY KEY,
  webhook_id uuid NOT NULL REFERENCES webhooks (id),
  status integer,
  payload jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- Written by the application for the organization's admins; looks global, holds tenant data.
CREATE TABLE audit_logs (
  id bigserial PRIMARY KEY,
  organization_id uuid REFERENCES organizations (id),
  actor text NOT NULL,
  action text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- Imported before foreign keys were a habit: organization_id without a foreign key.
CREATE TABLE data_imports (
  id uuid PRIMARY KEY,
  organization_id uuid NOT NULL,
  filename text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- pg_partman style: monthly range partitions, no primary key (an append-only event stream).
CREATE TABLE events (
  organization_id uuid NOT NULL REFERENCES organizations (id),
  name text NOT NULL,
  properties jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL
) PARTITION BY RANGE (created_at);
CREATE INDEX index_events_on_organization_id_and_created_at ON events (organization_id, created_at);
CREATE TABLE events_p2026_10 PARTITION OF events FOR VALUES FROM ('2026-10-01') TO ('2026-11-01');
CREATE TABLE events_p2026_11 PARTITION OF events FOR VALUES FROM ('2026-11-01') TO ('2026-12-01');
CREATE TABLE events_p2026_12 PARTITION OF events FOR VALUES FROM ('2026-12-01') TO ('2027-01-01');
CREATE TABLE events_default PARTITION OF events DEFAULT;

-- The generated feature tables: each organization's records of one feature, soft-deleted, the
-- odd ones hanging off the one before (a chain of foreign keys).
DO $$
DECLARE
  n integer;
BEGIN
  FOR n IN 1..{{modules}} LOOP
    EXECUTE format(
      'CREATE TABLE %I (
         id uuid PRIMARY KEY,
         organization_id uuid NOT NULL REFERENCES organizations (id),
         %s
         name text NOT NULL,
         deleted_at timestamptz,
         created_at timestamptz NOT NULL DEFAULT now()
       )',
      format('feature_%s_records', lpad(n::text, 2, '0')),
      CASE WHEN n % 2 = 0 THEN format('parent_id uuid REFERENCES %I (id),', format('feature_%s_records', lpad((n - 1)::text, 2, '0'))) ELSE '' END);
    EXECUTE format('CREATE INDEX %I ON %I (organization_id)',
      format('index_feature_%s_records_on_organization_id', lpad(n::text, 2, '0')), format('feature_%s_records', lpad(n::text, 2, '0')));
  END LOOP;
END $$;

-- Reporting views (definer rights: they read every organization) and a materialized view.
CREATE VIEW report_invoice_totals AS
  SELECT organization_id, count(*) AS invoices, sum(total_cents) AS total_cents FROM invoices WHERE deleted_at IS NULL GROUP BY organization_id;
CREATE VIEW report_open_tasks AS
  SELECT t.organization_id, p.name AS project, t.title FROM tasks t JOIN projects p ON p.id = t.project_id WHERE t.deleted_at IS NULL;
CREATE VIEW report_active_customers AS
  SELECT organization_id, id, name, email FROM customers WHERE deleted_at IS NULL;
CREATE VIEW report_payments AS
  SELECT p.organization_id, p.payable_type, p.amount_cents, p.paid_at FROM payments p;
CREATE VIEW report_plan_prices AS SELECT name, price_cents FROM plans;
CREATE MATERIALIZED VIEW monthly_revenue AS
  SELECT organization_id, date_trunc('month', created_at) AS month, sum(total_cents) AS total_cents
    FROM invoices GROUP BY 1, 2;
