-- Foreign keys and indexes of the sample CRM, as the report left them: every relationship has its
-- (single-column) foreign key, but company_id got a foreign key here, an index there, NOT NULL
-- on two tables, and nothing at all on others. Loaded after the data: one validation scan per FK.

-- References to the system tables.
ALTER TABLE users ADD FOREIGN KEY (role_id) REFERENCES roles (id);
ALTER TABLE users ADD FOREIGN KEY (team_id) REFERENCES teams (id);
ALTER TABLE invitations ADD FOREIGN KEY (role_id) REFERENCES roles (id);
ALTER TABLE sessions ADD FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE;

-- Relationships between tenant tables.
ALTER TABLE contacts ADD FOREIGN KEY (owner_id) REFERENCES users (id);
ALTER TABLE pipeline_stages ADD FOREIGN KEY (pipeline_id) REFERENCES pipelines (id) ON DELETE CASCADE;
ALTER TABLE deals ADD FOREIGN KEY (contact_id) REFERENCES contacts (id);
ALTER TABLE deals ADD FOREIGN KEY (pipeline_id) REFERENCES pipelines (id);
ALTER TABLE deals ADD FOREIGN KEY (stage_id) REFERENCES pipeline_stages (id);
ALTER TABLE deals ADD FOREIGN KEY (owner_id) REFERENCES users (id);
ALTER TABLE activities ADD FOREIGN KEY (user_id) REFERENCES users (id);
ALTER TABLE activities ADD FOREIGN KEY (contact_id) REFERENCES contacts (id);
ALTER TABLE activities ADD FOREIGN KEY (deal_id) REFERENCES deals (id) ON DELETE CASCADE;
ALTER TABLE twilio_settings ADD FOREIGN KEY (created_by) REFERENCES users (id);
ALTER TABLE phone_numbers ADD FOREIGN KEY (user_id) REFERENCES users (id);
ALTER TABLE phone_numbers ADD FOREIGN KEY (twilio_settings_id) REFERENCES twilio_settings (id);
ALTER TABLE calls ADD FOREIGN KEY (user_id) REFERENCES users (id);
ALTER TABLE calls ADD FOREIGN KEY (contact_id) REFERENCES contacts (id);
ALTER TABLE calls ADD FOREIGN KEY (phone_number_id) REFERENCES phone_numbers (id);
ALTER TABLE sms_messages ADD FOREIGN KEY (user_id) REFERENCES users (id);
ALTER TABLE sms_messages ADD FOREIGN KEY (contact_id) REFERENCES contacts (id);
ALTER TABLE sms_messages ADD FOREIGN KEY (phone_number_id) REFERENCES phone_numbers (id);
ALTER TABLE sms_templates ADD FOREIGN KEY (created_by) REFERENCES users (id);
ALTER TABLE email_templates ADD FOREIGN KEY (created_by) REFERENCES users (id);
ALTER TABLE emails ADD FOREIGN KEY (user_id) REFERENCES users (id);
ALTER TABLE emails ADD FOREIGN KEY (contact_id) REFERENCES contacts (id);
ALTER TABLE emails ADD FOREIGN KEY (deal_id) REFERENCES deals (id);
ALTER TABLE email_campaigns ADD FOREIGN KEY (template_id) REFERENCES email_templates (id);
ALTER TABLE email_campaigns ADD FOREIGN KEY (created_by) REFERENCES users (id);
ALTER TABLE bulk_email_campaigns ADD FOREIGN KEY (campaign_id) REFERENCES email_campaigns (id);
ALTER TABLE folders ADD FOREIGN KEY (parent_id) REFERENCES folders (id);
ALTER TABLE folders ADD FOREIGN KEY (created_by) REFERENCES users (id);
ALTER TABLE files ADD FOREIGN KEY (folder_id) REFERENCES folders (id);
ALTER TABLE files ADD FOREIGN KEY (uploaded_by) REFERENCES users (id);
ALTER TABLE documents ADD FOREIGN KEY (folder_id) REFERENCES folders (id);
ALTER TABLE documents ADD FOREIGN KEY (deal_id) REFERENCES deals (id);
ALTER TABLE documents ADD FOREIGN KEY (created_by) REFERENCES users (id);
ALTER TABLE document_signatures ADD FOREIGN KEY (document_id) REFERENCES documents (id) ON DELETE CASCADE;
ALTER TABLE quotes ADD FOREIGN KEY (deal_id) REFERENCES deals (id);
ALTER TABLE quotes ADD FOREIGN KEY (contact_id) REFERENCES contacts (id);
ALTER TABLE payment_history ADD FOREIGN KEY (quote_id) REFERENCES quotes (id);
ALTER TABLE notifications ADD FOREIGN KEY (user_id) REFERENCES users (id);
ALTER TABLE performance_alerts ADD FOREIGN KEY (user_id) REFERENCES users (id);
ALTER TABLE workflows ADD FOREIGN KEY (created_by) REFERENCES users (id);
ALTER TABLE workflow_executions ADD FOREIGN KEY (workflow_id) REFERENCES workflows (id) ON DELETE CASCADE;
ALTER TABLE workflow_executions ADD FOREIGN KEY (deal_id) REFERENCES deals (id);
ALTER TABLE user_conversations ADD FOREIGN KEY (user_id) REFERENCES users (id);
ALTER TABLE user_conversations ADD FOREIGN KEY (contact_id) REFERENCES contacts (id);
ALTER TABLE invitations ADD FOREIGN KEY (invited_by) REFERENCES users (id);

-- company_id: "28 foreign key constraints properly configured", "29 indexes" — in places.
ALTER TABLE users ADD FOREIGN KEY (company_id) REFERENCES companies (id);
CREATE INDEX users_company_id_idx ON users (company_id);
ALTER TABLE contacts ADD FOREIGN KEY (company_id) REFERENCES companies (id);
CREATE INDEX contacts_company_id_idx ON contacts (company_id);
ALTER TABLE deals ADD FOREIGN KEY (company_id) REFERENCES companies (id);
CREATE INDEX deals_company_id_idx ON deals (company_id);
ALTER TABLE pipelines ADD FOREIGN KEY (company_id) REFERENCES companies (id);
CREATE INDEX pipeline_stages_company_id_idx ON pipeline_stages (company_id);
ALTER TABLE activities ADD FOREIGN KEY (company_id) REFERENCES companies (id);
CREATE INDEX activities_company_id_idx ON activities (company_id);
ALTER TABLE calls ADD FOREIGN KEY (company_id) REFERENCES companies (id);
CREATE INDEX calls_company_id_idx ON calls (company_id);
ALTER TABLE phone_numbers ADD FOREIGN KEY (company_id) REFERENCES companies (id);
ALTER TABLE sms_messages ADD FOREIGN KEY (company_id) REFERENCES companies (id);
CREATE INDEX sms_messages_company_id_idx ON sms_messages (company_id);
ALTER TABLE sms_templates ADD FOREIGN KEY (company_id) REFERENCES companies (id);
ALTER TABLE emails ADD FOREIGN KEY (company_id) REFERENCES companies (id);
CREATE INDEX emails_company_id_idx ON emails (company_id);
ALTER TABLE email_templates ADD FOREIGN KEY (company_id) REFERENCES companies (id);
CREATE INDEX email_templates_company_id_idx ON email_templates (company_id);
ALTER TABLE bulk_email_campaigns ADD FOREIGN KEY (company_id) REFERENCES companies (id);
CREATE INDEX bulk_email_campaigns_company_id_idx ON bulk_email_campaigns (company_id);
CREATE INDEX folders_company_id_idx ON folders (company_id);
ALTER TABLE files ADD FOREIGN KEY (company_id) REFERENCES companies (id);
CREATE INDEX files_company_id_idx ON files (company_id);
ALTER TABLE documents ADD FOREIGN KEY (company_id) REFERENCES companies (id);
CREATE INDEX documents_company_id_idx ON documents (company_id);
ALTER TABLE quotes ADD FOREIGN KEY (company_id) REFERENCES companies (id);
CREATE INDEX quotes_company_id_idx ON quotes (company_id);
ALTER TABLE payment_history ADD FOREIGN KEY (company_id) REFERENCES companies (id);
ALTER TABLE notifications ADD FOREIGN KEY (company_id) REFERENCES companies (id);
CREATE INDEX notifications_company_id_idx ON notifications (company_id);
ALTER TABLE workflows ADD FOREIGN KEY (company_id) REFERENCES companies (id);
CREATE INDEX workflows_company_id_idx ON workflows (company_id);
ALTER TABLE workflow_executions ADD FOREIGN KEY (company_id) REFERENCES companies (id);
CREATE INDEX workflow_executions_company_id_idx ON workflow_executions (company_id);
ALTER TABLE invitations ADD FOREIGN KEY (company_id) REFERENCES companies (id);
CREATE INDEX invitations_company_id_idx ON invitations (company_id);

-- Indexes the application uses for lookups.
CREATE INDEX users_email_idx ON users (lower(email));
CREATE INDEX deals_contact_id_idx ON deals (contact_id);
CREATE INDEX activities_deal_id_idx ON activities (deal_id);
CREATE INDEX emails_contact_id_idx ON emails (contact_id);

ANALYZE;
