-- The poller reads national's action log (what changed) instead of the complaints changed since
-- a time: its cursor is the last log entry read. It no longer tells lapor-hub's own writes from
-- national admins' by comparing national's update time with lapor-hub's last write (an admin's
-- action followed by a lapor-hub follow-up within one poll interval was never seen), but by who
-- wrote each log entry, so `last_written_at` goes. A NULL cursor reads the log from its start
-- once: actions already published are skipped by `national_seen_at`, complaints received from
-- national by their mapping.
ALTER TABLE national_poll DROP COLUMN cursor, ADD COLUMN after_log_id bigint;
ALTER TABLE mirrored_complaints DROP COLUMN last_written_at;
