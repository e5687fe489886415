-- The public timeline starts with the complaint's own received_at: "received" is no longer a
-- stored timeline entry (it would show twice).
DELETE FROM timeline WHERE status = 'received';
