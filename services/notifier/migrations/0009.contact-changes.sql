-- Every replacement of an agency's contacts through the API or the command line: who made it,
-- when, and the contacts before and after (webhook secrets left out). The agency's old
-- addresses are told of it by a delivery of its own (kind 'contacts_changed'), which belongs
-- to no complaint: deliveries' complaint and tracking number may be empty for such notices.
CREATE TABLE agency_contact_changes (
    change_id    uuid PRIMARY KEY,
    agency_code  text NOT NULL,
    changed_by   text NOT NULL,
    changed_at   timestamptz NOT NULL DEFAULT now(),
    previous     jsonb,
    contacts     jsonb NOT NULL
);
CREATE INDEX agency_contact_changes_by_agency ON agency_contact_changes (agency_code, changed_at);
ALTER TABLE deliveries ALTER COLUMN complaint_id DROP NOT NULL,
    ALTER COLUMN tracking_number DROP NOT NULL;
