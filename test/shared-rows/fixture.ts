// The shared-rows fixture of the shared-ref tests: organizations, roles (a shared_rows table: row 1 is
// shared, rows 2 and 3 belong to one organization each) and memberships referencing them, granted to `app`.
import { ident } from '../../src/db/quote.js';

export function sharedRolesSql(app: string): string {
  return `
      CREATE TABLE orgs (id integer PRIMARY KEY);
      INSERT INTO orgs VALUES (1), (2);
      CREATE TABLE roles (id integer PRIMARY KEY, org_id integer REFERENCES orgs, name text NOT NULL);
      CREATE INDEX ON roles (org_id);
      INSERT INTO roles VALUES (1, NULL, 'owner'), (2, 1, 'custom one'), (3, 2, 'custom two');
      CREATE TABLE memberships (id integer PRIMARY KEY, org_id integer NOT NULL REFERENCES orgs, role_id integer NOT NULL REFERENCES roles);
      CREATE INDEX ON memberships (org_id);
      INSERT INTO memberships VALUES (1, 1, 1), (2, 1, 2), (3, 2, 1), (4, 2, 3);
      GRANT SELECT, INSERT, UPDATE, DELETE ON orgs, roles, memberships TO ${ident(app)};`;
}
