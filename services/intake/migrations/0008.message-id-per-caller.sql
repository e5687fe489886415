-- A channel's message id is unique per caller (a gateway, an operator), not per channel: the same
-- id from another caller is another message, never a replay of the first one's.
ALTER TABLE complaints DROP CONSTRAINT IF EXISTS complaints_channel_channel_message_id_key;
ALTER TABLE complaints
    ADD CONSTRAINT complaints_message_per_caller UNIQUE (channel, submitted_by, channel_message_id);
