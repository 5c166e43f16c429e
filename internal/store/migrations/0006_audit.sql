-- Placeholder: filled by the work on this part (keeps migration versions contiguous).
CREATE TABLE placeholder_audit (id INTEGER);
DROP TABLE placeholder_audit;
