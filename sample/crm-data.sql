-- Data of the sample CRM. {{scale}} copies ("blocks") of the report's data set: block b holds
-- companies 2b+1 ("nadan") and 2b+2 ("Sunstone") and every row that belongs to them, so scale 1 is
-- exactly the report's state (13 users 5/8, 39 contacts 26/13, 100 deals 4/96, ...) and scale N is
-- N times as many rows with the same defects in every block. Set-based: 10M rows in a few minutes.
--
-- Planted defects (per block), all of which the report claims were absent:
--   NULL company_id: phone_numbers 1, twilio_settings 1, activities 3, documents 2,
--     document_signatures 2 (their documents are NULL too: two hops), workflow_executions 5,
--     notifications 2, bulk_email_campaigns 2 (through email_campaigns, which has no company_id)
--   no company_id column: performance_alerts, email_campaigns, user_conversations
--   duplicate twilio_settings for nadan (one phone number points at the duplicate)
--   cross-company references: deals 2 (contact_id), activities 1 (contact_id), quotes 1 (deal_id)

INSERT INTO companies (id, name, domain, plan, created_at)
SELECT 2 * b + k,
       CASE k WHEN 1 THEN 'nadan' ELSE 'Sunstone' END || CASE WHEN b > 0 THEN ' #' || b ELSE '' END,
       CASE k WHEN 1 THEN 'nadan' ELSE 'sunstone' END || CASE WHEN b > 0 THEN b::text ELSE '' END || '.example',
       CASE k WHEN 1 THEN 'standard' ELSE 'enterprise' END,
       timestamptz '2024-06-01 09:00:00+00' + (b || ' minutes')::interval
  FROM generate_series(0, {{scale}} - 1) b, generate_series(1, 2) k;

INSERT INTO roles (id, name, permissions) VALUES
  (1, 'admin', '["*"]'), (2, 'manager', '["read", "write", "manage"]'),
  (3, 'sales_rep', '["read", "write"]'), (4, 'viewer', '["read"]');
INSERT INTO teams (id, name) VALUES (1, 'Inbound'), (2, 'Outbound'), (3, 'Customer success');

INSERT INTO users (id, company_id, email, password_hash, full_name, role_id, team_id, created_at)
SELECT 13 * b + j,
       CASE WHEN j <= 5 THEN 2 * b + 1 ELSE 2 * b + 2 END,
       'user' || j || CASE WHEN b > 0 THEN '.' || b ELSE '' END || '@'
         || CASE WHEN j <= 5 THEN 'nadan' ELSE 'sunstone' END || '.example',
       md5('pw' || b || '-' || j),
       (ARRAY['Ana', 'Ben', 'Chen', 'Dana', 'Eli', 'Fatma', 'Goran', 'Hana', 'Ivan', 'Jo', 'Kemal', 'Lea', 'Mo'])[j]
         || ' ' || (ARRAY['Okafor', 'Silva', 'Novak', 'Haddad', 'Kim'])[1 + j % 5],
       1 + j % 4, 1 + j % 3,
       timestamptz '2024-07-01 09:00:00+00' + ((13 * b + j) || ' minutes')::interval
  FROM generate_series(0, {{scale}} - 1) b, generate_series(1, 13) j;

INSERT INTO contacts (id, company_id, owner_id, first_name, last_name, email, phone, company_name, status, created_at)
SELECT 39 * b + j,
       CASE WHEN j <= 26 THEN 2 * b + 1 ELSE 2 * b + 2 END,
       CASE WHEN j <= 26 THEN 13 * b + 1 + j % 5 ELSE 13 * b + 6 + j % 8 END,
       (ARRAY['Alex', 'Bea', 'Carl', 'Dina', 'Emre', 'Fay', 'Gus'])[1 + j % 7],
       (ARRAY['Meyer', 'Rossi', 'Tanaka', 'Nowak', 'Garcia', 'Smith'])[1 + j % 6],
       'contact' || (39 * b + j) || '@customer.example',
       '+1555' || lpad((39 * b + j)::text, 7, '0'),
       'Customer ' || (39 * b + j),
       (ARRAY['lead', 'prospect', 'customer'])[1 + j % 3],
       timestamptz '2024-08-01 09:00:00+00' + ((39 * b + j) || ' minutes')::interval
  FROM generate_series(0, {{scale}} - 1) b, generate_series(1, 39) j;

INSERT INTO pipelines (id, company_id, name, is_default)
SELECT 2 * b + j, 2 * b + j, CASE j WHEN 1 THEN 'Sales' ELSE 'Enterprise sales' END, true
  FROM generate_series(0, {{scale}} - 1) b, generate_series(1, 2) j;

INSERT INTO pipeline_stages (id, company_id, pipeline_id, name, position, probability)
SELECT 37 * b + j,
       CASE WHEN j <= 7 THEN 2 * b + 1 ELSE 2 * b + 2 END,
       CASE WHEN j <= 7 THEN 2 * b + 1 ELSE 2 * b + 2 END,
       'Stage ' || CASE WHEN j <= 7 THEN j ELSE j - 7 END,
       CASE WHEN j <= 7 THEN j ELSE j - 7 END,
       least(100, (CASE WHEN j <= 7 THEN j * 14 ELSE (j - 7) * 3 END))
  FROM generate_series(0, {{scale}} - 1) b, generate_series(1, 37) j;

INSERT INTO deals (id, company_id, contact_id, pipeline_id, stage_id, owner_id, title, value, status, expected_close, created_at)
SELECT 100 * b + j,
       CASE WHEN j <= 4 THEN 2 * b + 1 ELSE 2 * b + 2 END,
       CASE WHEN j <= 4 THEN 39 * b + j
            WHEN j = 50 THEN 39 * b + 3          -- cross-company: Sunstone deal, nadan contact
            WHEN j = 51 THEN 39 * b + 4          -- cross-company: Sunstone deal, nadan contact
            ELSE 39 * b + 27 + j % 13 END,
       CASE WHEN j <= 4 THEN 2 * b + 1 ELSE 2 * b + 2 END,
       CASE WHEN j <= 4 THEN 37 * b + 1 + j % 7 ELSE 37 * b + 8 + j % 30 END,
       CASE WHEN j <= 4 THEN 13 * b + 1 + j % 5 ELSE 13 * b + 6 + j % 8 END,
       'Deal ' || (100 * b + j),
       (1000 + (j * 7919) % 50000)::numeric(12, 2),
       (ARRAY['open', 'won', 'lost'])[1 + j % 3],
       date '2025-01-01' + (j % 300),
       timestamptz '2024-09-01 09:00:00+00' + ((100 * b + j) || ' minutes')::interval
  FROM generate_series(0, {{scale}} - 1) b, generate_series(1, 100) j;

INSERT INTO activities (id, company_id, user_id, contact_id, deal_id, type, subject, due_at, done)
SELECT 60 * b + j,
       CASE WHEN j IN (10, 30, 45) THEN NULL WHEN j <= 20 THEN 2 * b + 1 ELSE 2 * b + 2 END,
       CASE WHEN j <= 20 THEN 13 * b + 1 + j % 5 ELSE 13 * b + 6 + j % 8 END,
       CASE WHEN j <= 20 THEN 39 * b + 1 + j % 26
            WHEN j = 40 THEN 39 * b + 5           -- cross-company: Sunstone activity, nadan contact
            ELSE 39 * b + 27 + j % 13 END,
       CASE WHEN j <= 20 THEN 100 * b + 1 + j % 4 ELSE 100 * b + 5 + j % 96 END,
       (ARRAY['call', 'meeting', 'task', 'email'])[1 + j % 4],
       'Follow up #' || (60 * b + j),
       timestamptz '2025-02-01 09:00:00+00' + (j || ' hours')::interval,
       j % 2 = 0
  FROM generate_series(0, {{scale}} - 1) b, generate_series(1, 60) j;

INSERT INTO twilio_settings (id, company_id, account_sid, auth_token_enc, default_number, created_by, created_at)
SELECT 3 * b + j,
       CASE j WHEN 1 THEN 2 * b + 1 WHEN 2 THEN 2 * b + 1 ELSE NULL END,  -- 2: duplicate, 3: NULL
       'AC' || md5('sid' || b || '-' || j),
       md5('token' || b || '-' || j),
       '+1555' || lpad((4 * b + j)::text, 7, '0'),
       CASE j WHEN 1 THEN 13 * b + 1 WHEN 2 THEN 13 * b + 2 ELSE 13 * b + 6 END,
       CASE j WHEN 1 THEN timestamptz '2025-01-10 10:00:00+00'
              WHEN 2 THEN timestamptz '2025-03-02 10:00:00+00'
              ELSE timestamptz '2025-02-01 10:00:00+00' END
  FROM generate_series(0, {{scale}} - 1) b, generate_series(1, 3) j;

INSERT INTO phone_numbers (id, company_id, user_id, twilio_settings_id, number, friendly_name)
SELECT 4 * b + j,
       CASE WHEN j <= 2 THEN 2 * b + 1 WHEN j = 3 THEN 2 * b + 2 ELSE NULL END,  -- 4: the NULL number
       CASE j WHEN 1 THEN 13 * b + 1 WHEN 2 THEN 13 * b + 2 WHEN 3 THEN 13 * b + 6 ELSE 13 * b + 7 END,
       CASE j WHEN 1 THEN 3 * b + 1 WHEN 2 THEN 3 * b + 2 ELSE 3 * b + 3 END,
       '+1555' || lpad((4 * b + j)::text, 7, '0'),
       'Line ' || j
  FROM generate_series(0, {{scale}} - 1) b, generate_series(1, 4) j;

INSERT INTO calls (id, company_id, user_id, contact_id, phone_number_id, direction, duration_s, twilio_sid)
SELECT b + 1, 2 * b + 1, 13 * b + 1, 39 * b + 1, 4 * b + 1, 'outbound', 95, 'CA' || md5('call' || b)
  FROM generate_series(0, {{scale}} - 1) b;

INSERT INTO sms_messages (id, company_id, user_id, contact_id, phone_number_id, direction, body)
SELECT 2 * b + j, 2 * b + 1, 13 * b + 1, 39 * b + 1 + j, 4 * b + 1,
       CASE j WHEN 1 THEN 'outbound' ELSE 'inbound' END, 'Hello from nadan #' || j
  FROM generate_series(0, {{scale}} - 1) b, generate_series(1, 2) j;

INSERT INTO sms_templates (id, company_id, name, body, created_by)
SELECT 5 * b + j, CASE WHEN j <= 3 THEN 2 * b + 1 ELSE 2 * b + 2 END, 'Template ' || j,
       'Hi {{first_name}}, ' || j, CASE WHEN j <= 3 THEN 13 * b + 1 ELSE 13 * b + 6 END
  FROM generate_series(0, {{scale}} - 1) b, generate_series(1, 5) j;

INSERT INTO email_templates (id, company_id, name, subject, body, created_by)
SELECT 6 * b + j, CASE WHEN j <= 3 THEN 2 * b + 1 ELSE 2 * b + 2 END, 'Email template ' || j,
       'Subject ' || j, 'Body ' || j, CASE WHEN j <= 3 THEN 13 * b + 1 ELSE 13 * b + 6 END
  FROM generate_series(0, {{scale}} - 1) b, generate_series(1, 6) j;

INSERT INTO emails (id, company_id, user_id, contact_id, deal_id, subject, body, sent_at)
SELECT 30 * b + j,
       CASE WHEN j <= 12 THEN 2 * b + 1 ELSE 2 * b + 2 END,
       CASE WHEN j <= 12 THEN 13 * b + 1 + j % 5 ELSE 13 * b + 6 + j % 8 END,
       CASE WHEN j <= 12 THEN 39 * b + 1 + j % 26 ELSE 39 * b + 27 + j % 13 END,
       CASE WHEN j <= 12 THEN 100 * b + 1 + j % 4 ELSE 100 * b + 5 + j % 96 END,
       'Re: deal ' || j, 'Message body ' || (30 * b + j),
       timestamptz '2025-03-01 09:00:00+00' + (j || ' hours')::interval
  FROM generate_series(0, {{scale}} - 1) b, generate_series(1, 30) j;

INSERT INTO email_campaigns (id, template_id, created_by, name, status)
SELECT 4 * b + j,
       CASE j WHEN 1 THEN 6 * b + 1 WHEN 2 THEN 6 * b + 2 WHEN 3 THEN 6 * b + 4 ELSE 6 * b + 5 END,
       CASE j WHEN 1 THEN 13 * b + 1 WHEN 2 THEN 13 * b + 2 WHEN 3 THEN 13 * b + 6 ELSE 13 * b + 7 END,
       'Campaign ' || j, (ARRAY['draft', 'scheduled', 'sent', 'sent'])[j]
  FROM generate_series(0, {{scale}} - 1) b, generate_series(1, 4) j;

INSERT INTO bulk_email_campaigns (id, company_id, campaign_id, name, recipients_count, status)
SELECT 4 * b + j,
       CASE j WHEN 1 THEN 2 * b + 1 WHEN 3 THEN 2 * b + 2 ELSE NULL END,  -- 2 and 4: NULL, two hops deep
       4 * b + j, 'Bulk send ' || j, 100 * j, 'done'
  FROM generate_series(0, {{scale}} - 1) b, generate_series(1, 4) j;

INSERT INTO folders (id, company_id, parent_id, name, created_by)
SELECT 8 * b + j,
       CASE WHEN j <= 3 THEN 2 * b + 1 ELSE 2 * b + 2 END,
       CASE WHEN j IN (1, 4) THEN NULL WHEN j <= 3 THEN 8 * b + 1 ELSE 8 * b + 4 END,
       CASE WHEN j IN (1, 4) THEN 'Shared' ELSE 'Folder ' || j END,
       CASE WHEN j <= 3 THEN 13 * b + 1 ELSE 13 * b + 6 END
  FROM generate_series(0, {{scale}} - 1) b, generate_series(1, 8) j;

INSERT INTO files (id, company_id, folder_id, uploaded_by, name, size_bytes, mime_type, storage_key)
SELECT 52 * b + j,
       CASE WHEN j <= 20 THEN 2 * b + 1 ELSE 2 * b + 2 END,
       CASE WHEN j <= 20 THEN 8 * b + 1 + j % 3 ELSE 8 * b + 4 + j % 5 END,
       CASE WHEN j <= 20 THEN 13 * b + 1 + j % 5 ELSE 13 * b + 6 + j % 8 END,
       'file-' || (52 * b + j) || '.pdf', 1024 * j, 'application/pdf', 'files/' || md5('f' || b || '-' || j)
  FROM generate_series(0, {{scale}} - 1) b, generate_series(1, 52) j;

INSERT INTO documents (id, company_id, folder_id, deal_id, title, status, created_by)
SELECT 12 * b + j,
       CASE WHEN j IN (6, 7) THEN NULL WHEN j <= 4 THEN 2 * b + 1 ELSE 2 * b + 2 END,
       CASE WHEN j <= 4 THEN 8 * b + 1 + j % 3 ELSE 8 * b + 4 + j % 5 END,
       CASE WHEN j <= 4 THEN 100 * b + j ELSE 100 * b + 5 + j END,
       'Contract ' || (12 * b + j), (ARRAY['draft', 'sent', 'signed'])[1 + j % 3],
       CASE WHEN j <= 4 THEN 13 * b + 1 ELSE 13 * b + 6 END
  FROM generate_series(0, {{scale}} - 1) b, generate_series(1, 12) j;

INSERT INTO document_signatures (id, company_id, document_id, signer_email, status, signed_at)
SELECT 16 * b + j,
       CASE WHEN j IN (5, 6) THEN NULL WHEN 1 + j % 12 <= 4 THEN 2 * b + 1 ELSE 2 * b + 2 END,
       12 * b + 1 + j % 12,
       'signer' || j || '@customer.example', (ARRAY['pending', 'signed'])[1 + j % 2],
       CASE WHEN j % 2 = 1 THEN timestamptz '2025-04-01 12:00:00+00' + (j || ' hours')::interval END
  FROM generate_series(0, {{scale}} - 1) b, generate_series(1, 16) j;

INSERT INTO quotes (id, company_id, deal_id, contact_id, number, amount, status, valid_until)
SELECT 24 * b + j,
       CASE WHEN j <= 4 THEN 2 * b + 1 ELSE 2 * b + 2 END,
       CASE WHEN j = 2 THEN 100 * b + 60           -- cross-company: nadan quote, Sunstone deal
            WHEN j <= 4 THEN 100 * b + j ELSE 100 * b + 5 + j END,
       CASE WHEN j <= 4 THEN 39 * b + j ELSE 39 * b + 27 + j % 13 END,
       'Q-' || lpad((24 * b + j)::text, 6, '0'), (500 * j)::numeric(12, 2),
       (ARRAY['draft', 'sent', 'accepted'])[1 + j % 3], date '2025-06-30'
  FROM generate_series(0, {{scale}} - 1) b, generate_series(1, 24) j;

INSERT INTO payment_history (id, company_id, quote_id, amount, method, paid_at)
SELECT 15 * b + j,
       CASE WHEN 1 + j % 24 <= 4 THEN 2 * b + 1 ELSE 2 * b + 2 END,
       24 * b + 1 + j % 24, (250 * j)::numeric(12, 2), (ARRAY['card', 'wire'])[1 + j % 2],
       timestamptz '2025-05-01 12:00:00+00' + (j || ' days')::interval
  FROM generate_series(0, {{scale}} - 1) b, generate_series(1, 15) j;

INSERT INTO notifications (id, company_id, user_id, type, message, created_at)
SELECT 20 * b + j,
       CASE WHEN j IN (7, 14) THEN NULL WHEN 1 + j % 13 <= 5 THEN 2 * b + 1 ELSE 2 * b + 2 END,
       13 * b + 1 + j % 13, (ARRAY['deal_won', 'task_due', 'mention'])[1 + j % 3], 'Notification ' || j,
       timestamptz '2025-05-01 08:00:00+00' + (j || ' hours')::interval
  FROM generate_series(0, {{scale}} - 1) b, generate_series(1, 20) j;

INSERT INTO performance_alerts (id, user_id, metric, threshold, triggered_at)
SELECT 6 * b + j, 13 * b + 1 + j % 13, (ARRAY['calls_per_day', 'win_rate', 'response_time'])[1 + j % 3],
       10 * j, timestamptz '2025-05-10 08:00:00+00' + (j || ' hours')::interval
  FROM generate_series(0, {{scale}} - 1) b, generate_series(1, 6) j;

INSERT INTO workflows (id, company_id, name, trigger, definition, created_by)
SELECT 31 * b + j, 2 * b + 1, 'Workflow ' || j, (ARRAY['deal_created', 'stage_changed', 'contact_created'])[1 + j % 3],
       jsonb_build_object('steps', j % 5 + 1), 13 * b + 1 + j % 5
  FROM generate_series(0, {{scale}} - 1) b, generate_series(1, 31) j;

INSERT INTO workflow_executions (id, company_id, workflow_id, status, started_at, finished_at)
SELECT 48 * b + j,
       CASE WHEN j >= 44 THEN NULL ELSE 2 * b + 1 END,
       31 * b + 1 + j % 31, (ARRAY['done', 'failed', 'done'])[1 + j % 3],
       timestamptz '2025-06-01 08:00:00+00' + (j || ' minutes')::interval,
       timestamptz '2025-06-01 08:00:30+00' + (j || ' minutes')::interval
  FROM generate_series(0, {{scale}} - 1) b, generate_series(1, 48) j;

INSERT INTO user_conversations (id, user_id, contact_id, channel, last_message_at)
SELECT 10 * b + j,
       CASE WHEN j <= 5 THEN 13 * b + j ELSE 13 * b + j + 1 END,
       CASE WHEN j <= 5 THEN 39 * b + j ELSE 39 * b + 27 + j END,
       (ARRAY['email', 'sms'])[1 + j % 2], timestamptz '2025-06-10 08:00:00+00' + (j || ' hours')::interval
  FROM generate_series(0, {{scale}} - 1) b, generate_series(1, 10) j;

INSERT INTO invitations (id, company_id, email, invited_by, role_id, token, expires_at)
SELECT 5 * b + j, CASE WHEN j <= 2 THEN 2 * b + 1 ELSE 2 * b + 2 END,
       'invitee' || (5 * b + j) || '@customer.example',
       CASE WHEN j <= 2 THEN 13 * b + 1 ELSE 13 * b + 6 END, 4, md5('invite' || b || '-' || j),
       timestamptz '2025-12-31 00:00:00+00'
  FROM generate_series(0, {{scale}} - 1) b, generate_series(1, 5) j;

-- Exempt system and analytics tables.
INSERT INTO sessions (user_id, token, expires_at)
SELECT 13 * b + j, md5('session' || b || '-' || j), timestamptz '2026-01-01 00:00:00+00'
  FROM generate_series(0, {{scale}} - 1) b, generate_series(1, 13) j;
INSERT INTO audit_logs (user_id, action, entity, entity_id, details)
SELECT 13 * b + 1 + j % 13, (ARRAY['login', 'update', 'delete'])[1 + j % 3], 'deal', 100 * b + 1 + j % 100,
       jsonb_build_object('n', j)
  FROM generate_series(0, {{scale}} - 1) b, generate_series(1, 50) j;
INSERT INTO security_logs (event, ip, user_id)
SELECT (ARRAY['login_ok', 'login_failed'])[1 + j % 2], ('10.0.' || (j % 250) || '.' || (1 + b % 250))::inet,
       13 * b + 1 + j % 13
  FROM generate_series(0, {{scale}} - 1) b, generate_series(1, 20) j;
INSERT INTO pipeline_metrics (pipeline_id, day, deals_count, total_value)
SELECT 2 * b + 1 + j % 2, date '2025-06-01' + j, j, 1000 * j
  FROM generate_series(0, {{scale}} - 1) b, generate_series(1, 10) j;
INSERT INTO activity_metrics (user_id, day, calls, emails, meetings)
SELECT 13 * b + j, date '2025-06-01', j % 5, j % 7, j % 3
  FROM generate_series(0, {{scale}} - 1) b, generate_series(1, 13) j;

-- Move every serial sequence past the ids inserted above.
DO $$
DECLARE r record;
BEGIN
  FOR r IN
    SELECT c.oid::regclass AS tbl, a.attname AS col, pg_get_serial_sequence(c.oid::regclass::text, a.attname) AS seq
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_attribute a ON a.attrelid = c.oid
     WHERE n.nspname = (current_schemas(false))[1] AND c.relkind = 'r'
       AND a.attnum > 0 AND pg_get_serial_sequence(c.oid::regclass::text, a.attname) IS NOT NULL
  LOOP
    EXECUTE format('SELECT setval(%L, coalesce((SELECT max(%I) FROM %s), 0) + 1, false)', r.seq, r.col, r.tbl);
  END LOOP;
END $$;
