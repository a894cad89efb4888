-- Data of the SaaS sample: {{scale}} blocks; block b holds organizations A, B and C (k = 1, 2, 3)
-- and everything they own. Ids are deterministic uuids (md5 of a readable key), so tests can name
-- rows: sid('inv-<b>-<k>-<i>') is invoice i of organization k in block b.
--
-- Planted defects, per block (what a rollout must find and fix without damaging anything):
--   NULL tenants: projects 2 (filled through customer_id), tasks 5 (4 of them under those projects:
--     two hops), audit_logs 1
--   no tenant column: comments (through task_id), invoice_line_items (through invoice_id),
--     line_item_taxes (two hops), task_labels, webhook_deliveries, custom_field_values;
--     versions and active_storage_attachments are reached only through polymorphic pairs
--   duplicates: billing_codes CONSULT twice live for A (the same entity: merged, its line item
--     re-pointed); SETUP live + SETUP soft-deleted for every organization (NOT a duplicate under the
--     partial key: both stay); invoices INV-1001 twice for A for DIFFERENT customers (distinct
--     documents: a conflict, never merged)
--   cross-tenant references: an invoice of B for a customer of A; a task of A in a project of B;
--     a payment of A for an invoice of C (polymorphic)
--   a payment whose payable_type names no target ('Refund')
--   unknown tenant: a data_imports row whose organization_id names no organization
--   shared rows by design: 4 predefined roles and 3 notification templates with a NULL tenant

CREATE OR REPLACE FUNCTION pg_temp.sid(text) RETURNS uuid LANGUAGE sql IMMUTABLE AS $$ SELECT md5($1)::uuid $$;

INSERT INTO plans (id, name, price_cents) VALUES (1, 'free', 0), (2, 'team', 2900), (3, 'business', 9900);
INSERT INTO countries (code, name) VALUES ('DE', 'Germany'), ('FR', 'France'), ('US', 'United States'), ('JP', 'Japan');

INSERT INTO roles (id, organization_id, name, predefined, permissions)
SELECT pg_temp.sid('role-' || name), NULL, name, true, perms::jsonb
  FROM (VALUES ('owner', '["*"]'), ('admin', '["manage", "write", "read"]'), ('member', '["write", "read"]'), ('viewer', '["read"]')) r(name, perms);

INSERT INTO notification_templates (id, organization_id, key, body)
SELECT pg_temp.sid('tpl-' || key), NULL, key, 'Default ' || key || ' text'
  FROM unnest(ARRAY['invoice_sent', 'task_assigned', 'welcome']) key;

CREATE TEMP TABLE blocks ON COMMIT DROP AS
SELECT b, k, pg_temp.sid('org-' || b || '-' || k) AS org,
       (ARRAY['Acme', 'Borealis', 'Cobalt'])[k] || CASE WHEN b > 0 THEN ' #' || b ELSE '' END AS org_name
  FROM generate_series(0, {{scale}} - 1) b, generate_series(1, 3) k;

INSERT INTO organizations (id, name, slug, created_at)
SELECT org, org_name, lower(replace(org_name, ' #', '-')), timestamptz '2025-01-01 09:00+00' + (b * 3 + k || ' minutes')::interval FROM blocks;

INSERT INTO users (id, email, name, encrypted_password)
SELECT pg_temp.sid('user-' || b || '-' || k || '-' || j), 'user' || j || '.' || b || '.' || k || '@example.com',
       (ARRAY['Ada', 'Bo', 'Cy', 'Di'])[j] || ' ' || (ARRAY['Adams', 'Berg', 'Chow'])[k], md5('pw' || b || k || j)
  FROM blocks, generate_series(1, 4) j;

INSERT INTO roles (id, organization_id, name, predefined, permissions)
SELECT pg_temp.sid('role-' || b || '-' || k), org, 'billing-clerk', false, '["billing"]' FROM blocks;

INSERT INTO memberships (id, organization_id, user_id, role_id)
SELECT pg_temp.sid('mem-' || b || '-' || k || '-' || j), org, pg_temp.sid('user-' || b || '-' || k || '-' || j),
       CASE j WHEN 1 THEN pg_temp.sid('role-owner') WHEN 4 THEN pg_temp.sid('role-' || b || '-' || k) ELSE pg_temp.sid('role-member') END
  FROM blocks, generate_series(1, 4) j;

INSERT INTO teams (id, organization_id, name, deleted_at)
SELECT pg_temp.sid('team-' || b || '-' || k || '-' || j), org, (ARRAY['Support', 'Billing', 'Support'])[j],
       CASE WHEN j = 3 THEN timestamptz '2025-03-01 00:00+00' END
  FROM blocks, generate_series(1, 3) j;

INSERT INTO team_members (id, organization_id, team_id, membership_id)
SELECT pg_temp.sid('tm-' || b || '-' || k || '-' || j), org, pg_temp.sid('team-' || b || '-' || k || '-' || (1 + j % 2)),
       pg_temp.sid('mem-' || b || '-' || k || '-' || j)
  FROM blocks, generate_series(1, 3) j;

INSERT INTO customers (id, organization_id, name, email, country_code, deleted_at)
SELECT pg_temp.sid('cust-' || b || '-' || k || '-' || j), org, 'Customer ' || k || '.' || j,
       'billing' || j || '@customer' || b || k || '.example', (ARRAY['DE', 'FR', 'US', 'JP', 'US'])[j],
       CASE WHEN j = 5 THEN timestamptz '2025-04-01 00:00+00' END
  FROM blocks, generate_series(1, 5) j;

INSERT INTO billing_codes (id, organization_id, code, description, deleted_at)
SELECT pg_temp.sid('bc-' || b || '-' || k || '-' || c.tag), org, c.code, c.description, c.deleted_at
  FROM blocks, (VALUES ('setup', 'SETUP', 'One-time setup', NULL::timestamptz),
                       ('setup-old', 'SETUP', 'One-time setup (old price)', timestamptz '2025-02-01 00:00+00'),
                       ('hosting', 'HOSTING', 'Monthly hosting', NULL)) c(tag, code, description, deleted_at);
-- A's CONSULT twice, both live: the same code and description (one entity entered twice).
INSERT INTO billing_codes (id, organization_id, code, description, created_at)
SELECT pg_temp.sid('bc-' || b || '-1-consult-' || n), org, 'CONSULT', 'Consulting hour', timestamptz '2025-02-10 00:00+00' + (n || ' days')::interval
  FROM blocks, generate_series(1, 2) n WHERE k = 1;

INSERT INTO invoices (id, organization_id, customer_id, number, status, total_cents, created_at)
SELECT pg_temp.sid('inv-' || b || '-' || k || '-' || i), org, pg_temp.sid('cust-' || b || '-' || k || '-' || i),
       'INV-' || k || '00' || i, (ARRAY['paid', 'sent', 'draft', 'paid'])[i], 10000 * i,
       timestamptz '2026-10-05 00:00+00' + (i * 10 || ' days')::interval
  FROM blocks, generate_series(1, 4) i;
-- A: a second INV-1001, for another customer (a different document that shares the number).
INSERT INTO invoices (id, organization_id, customer_id, number, status, total_cents)
SELECT pg_temp.sid('inv-' || b || '-1-dup'), org, pg_temp.sid('cust-' || b || '-1-2'), 'INV-1001', 'sent', 4200 FROM blocks WHERE k = 1;
-- B: an invoice for a customer of A (cross-tenant).
UPDATE invoices i SET customer_id = pg_temp.sid('cust-' || bl.b || '-1-3')
  FROM blocks bl WHERE bl.k = 2 AND i.id = pg_temp.sid('inv-' || bl.b || '-2-3');

INSERT INTO invoice_line_items (id, invoice_id, billing_code_id, description, amount_cents)
SELECT pg_temp.sid('li-' || i.id || '-' || n), i.id,
       pg_temp.sid('bc-' || bl.b || '-' || bl.k || '-' || CASE n WHEN 1 THEN 'setup' ELSE 'hosting' END),
       CASE n WHEN 1 THEN 'Setup' ELSE 'Hosting' END, i.total_cents / 2
  FROM invoices i JOIN blocks bl ON bl.org = i.organization_id, generate_series(1, 2) n;
-- A line item on A's second CONSULT copy: dedupe re-points it to the survivor.
INSERT INTO invoice_line_items (id, invoice_id, billing_code_id, description, amount_cents)
SELECT pg_temp.sid('li-consult-' || b), pg_temp.sid('inv-' || b || '-1-1'), pg_temp.sid('bc-' || b || '-1-consult-2'), 'Consulting', 15000
  FROM blocks WHERE k = 1;

INSERT INTO line_item_taxes (id, line_item_id, rate, amount_cents)
SELECT pg_temp.sid('tax-' || id), id, 19.00, amount_cents * 19 / 100 FROM invoice_line_items;

INSERT INTO payment_requests (id, organization_id, customer_id, amount_cents)
SELECT pg_temp.sid('pr-' || b || '-' || k || '-' || j), org, pg_temp.sid('cust-' || b || '-' || k || '-' || j), 5000 * j
  FROM blocks, generate_series(1, 2) j;

INSERT INTO payments (id, organization_id, payable_type, payable_id, amount_cents)
SELECT pg_temp.sid('pay-' || b || '-' || k || '-' || j), org,
       CASE WHEN j < 3 THEN 'Invoice' ELSE 'PaymentRequest' END,
       CASE WHEN j < 3 THEN pg_temp.sid('inv-' || b || '-' || k || '-' || j) ELSE pg_temp.sid('pr-' || b || '-' || k || '-1') END,
       1000 * j
  FROM blocks, generate_series(1, 3) j;
-- A pays an invoice of C (cross-tenant through the polymorphic pair); B records a 'Refund' (no such target).
INSERT INTO payments (id, organization_id, payable_type, payable_id, amount_cents)
SELECT pg_temp.sid('pay-' || b || '-1-cross'), org, 'Invoice', pg_temp.sid('inv-' || b || '-3-4'), 777 FROM blocks WHERE k = 1;
INSERT INTO payments (id, organization_id, payable_type, payable_id, amount_cents)
SELECT pg_temp.sid('pay-' || b || '-2-refund'), org, 'Refund', pg_temp.sid('refund-' || b), -500 FROM blocks WHERE k = 2;

INSERT INTO projects (id, organization_id, customer_id, name)
SELECT pg_temp.sid('proj-' || b || '-' || k || '-' || j), CASE WHEN j = 3 AND k < 3 THEN NULL ELSE org END,
       pg_temp.sid('cust-' || b || '-' || k || '-' || j), 'Project ' || k || '.' || j
  FROM blocks, generate_series(1, 3) j;

INSERT INTO tasks (id, organization_id, project_id, assignee_id, title)
SELECT pg_temp.sid('task-' || b || '-' || k || '-' || j || '-' || t),
       CASE WHEN j = 3 AND k < 3 AND t < 3 THEN NULL WHEN k = 3 AND j = 3 AND t = 1 THEN NULL ELSE org END,
       pg_temp.sid('proj-' || b || '-' || k || '-' || j), pg_temp.sid('mem-' || b || '-' || k || '-' || (1 + t % 4)),
       'Task ' || j || '.' || t
  FROM blocks, generate_series(1, 3) j, generate_series(1, 3) t;
-- Only two of the three tasks under a NULL project are NULL themselves; the third one's tenant is
-- set (as the application would): fill order must not matter.
-- A: a task in a project of B (cross-tenant).
UPDATE tasks t SET project_id = pg_temp.sid('proj-' || bl.b || '-2-1')
  FROM blocks bl WHERE bl.k = 1 AND t.id = pg_temp.sid('task-' || bl.b || '-1-1-3');

INSERT INTO comments (id, task_id, author_id, body)
SELECT pg_temp.sid('com-' || t.id), t.id, t.assignee_id, 'Looks good' FROM tasks t;

INSERT INTO labels (id, organization_id, name)
SELECT pg_temp.sid('label-' || b || '-' || k || '-' || j), org, (ARRAY['urgent', 'later'])[j] FROM blocks, generate_series(1, 2) j;
INSERT INTO task_labels (task_id, label_id)
SELECT t.id, pg_temp.sid('label-' || bl.b || '-' || bl.k || '-1')
  FROM tasks t JOIN projects p ON p.id = t.project_id JOIN customers c ON c.id = p.customer_id JOIN blocks bl ON bl.org = c.organization_id;

INSERT INTO versions (item_type, item_id, event, whodunnit, object)
SELECT 'Invoice', id::text, 'update', 'user', jsonb_build_object('status', 'draft', 'total_cents', total_cents) FROM invoices;
INSERT INTO versions (item_type, item_id, event, whodunnit, object)
SELECT 'Customer', id::text, 'create', 'user', jsonb_build_object('name', name, 'email', email) FROM customers;

INSERT INTO active_storage_blobs (key, filename, content_type, byte_size)
SELECT 'blob-' || id, number || '.pdf', 'application/pdf', 20000 FROM invoices;
INSERT INTO active_storage_attachments (name, record_type, record_id, blob_id)
SELECT 'pdf', 'Invoice', i.id, bl.id FROM invoices i JOIN active_storage_blobs bl ON bl.key = 'blob-' || i.id;

INSERT INTO custom_fields (id, organization_id, entity_type, name)
SELECT pg_temp.sid('cf-' || b || '-' || k), org, 'Customer', 'VAT id' FROM blocks;
INSERT INTO custom_field_values (id, custom_field_id, record_type, record_id, value)
SELECT pg_temp.sid('cfv-' || c.id), pg_temp.sid('cf-' || bl.b || '-' || bl.k), 'Customer', c.id, 'VAT' || left(md5(c.id::text), 8)
  FROM customers c JOIN blocks bl ON bl.org = c.organization_id;

INSERT INTO organization_settings (id, organization_id, timezone)
SELECT pg_temp.sid('set-' || b || '-' || k), org, (ARRAY['Europe/Berlin', 'Europe/Paris', 'America/New_York'])[k] FROM blocks;
INSERT INTO subscriptions (id, organization_id, plan_id, status)
SELECT pg_temp.sid('sub-' || b || '-' || k), org, k, 'active' FROM blocks;
INSERT INTO notification_templates (id, organization_id, key, body)
SELECT pg_temp.sid('tpl-' || b || '-' || k), org, 'invoice_sent', 'Your invoice from ' || org_name FROM blocks;

INSERT INTO api_keys (id, organization_id, token_digest)
SELECT pg_temp.sid('key-' || b || '-' || k), org, md5('token' || b || k) FROM blocks;
INSERT INTO webhooks (id, organization_id, url, secret)
SELECT pg_temp.sid('hook-' || b || '-' || k), org, 'https://hooks.example/' || b || '/' || k, md5('secret' || b || k) FROM blocks;
INSERT INTO webhook_deliveries (webhook_id, status, payload)
SELECT pg_temp.sid('hook-' || b || '-' || k), 200, jsonb_build_object('n', n) FROM blocks, generate_series(1, 2) n;

INSERT INTO audit_logs (organization_id, actor, action)
SELECT CASE WHEN k = 2 AND n = 3 THEN NULL ELSE org END, 'user1.' || b || '.' || k || '@example.com', (ARRAY['login', 'invoice.send', 'export'])[n]
  FROM blocks, generate_series(1, 3) n;

INSERT INTO data_imports (id, organization_id, filename)
SELECT pg_temp.sid('imp-' || b || '-' || k), org, 'customers-' || k || '.csv' FROM blocks;
-- An import of an organization that no longer exists (no foreign key stopped its deletion).
INSERT INTO data_imports (id, organization_id, filename)
SELECT pg_temp.sid('imp-' || b || '-gone'), pg_temp.sid('org-deleted-' || b), 'legacy.csv' FROM generate_series(0, {{scale}} - 1) b;

INSERT INTO events (organization_id, name, properties, created_at)
SELECT org, (ARRAY['invoice.sent', 'task.done', 'login'])[1 + n % 3], jsonb_build_object('n', n),
       timestamptz '2026-10-03 00:00+00' + (n * 12 || ' days')::interval + (b || ' seconds')::interval
  FROM blocks, generate_series(0, 5) n;

DO $$
DECLARE
  n integer;
  t text;
BEGIN
  FOR n IN 1..{{modules}} LOOP
    t := format('feature_%s_records', lpad(n::text, 2, '0'));
    IF n % 2 = 0 THEN
      EXECUTE format(
        'INSERT INTO %I (id, organization_id, parent_id, name)
         SELECT md5(%L || b || ''-'' || k || ''-'' || j)::uuid, org, md5(%L || b || ''-'' || k || ''-'' || j)::uuid, ''record '' || j
           FROM blocks, generate_series(1, 2) j',
        t, t, format('feature_%s_records', lpad((n - 1)::text, 2, '0')));
    ELSE
      EXECUTE format(
        'INSERT INTO %I (id, organization_id, name)
         SELECT md5(%L || b || ''-'' || k || ''-'' || j)::uuid, org, ''record '' || j FROM blocks, generate_series(1, 2) j',
        t, t);
    END IF;
  END LOOP;
END $$;

REFRESH MATERIALIZED VIEW monthly_revenue;

