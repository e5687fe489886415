-- Probable duplicates are found as the nearest text (trigram distance) in the same region:
-- a GiST index answers "nearest" in about a millisecond however many similar complaints
-- exist, where the GIN index still had to score every candidate.
DROP INDEX IF EXISTS complaints_text_trgm;
CREATE INDEX complaints_text_trgm_knn ON complaints
    USING gist ((title || ' ' || body) public.gist_trgm_ops);
