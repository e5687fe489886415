-- Probable duplicates, searched per region among texts at least as similar as the threshold
-- (`%`), nearest first, in one GiST index on (region, text): most complaints have no similar
-- one and are answered in well under a millisecond, and a burst about the same matter (a
-- flood, thousands of similar texts in one region) stops at the nearest. Longer trigram
-- signatures (siglen) keep the index selective on whole complaint texts; the region/time
-- index is dropped so that the planner cannot prefer it and rank every text in the region.
CREATE EXTENSION IF NOT EXISTS btree_gist SCHEMA public;
DROP INDEX IF EXISTS complaints_text_trgm_knn;
DROP INDEX IF EXISTS complaints_region_received;
CREATE INDEX complaints_region_text ON complaints
    USING gist (region_code, (title || ' ' || body) public.gist_trgm_ops(siglen = 256));
