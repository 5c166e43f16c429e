-- Placeholder: filled by the work on this part (keeps migration versions contiguous).
CREATE TABLE placeholder_ledger (id INTEGER);
DROP TABLE placeholder_ledger;
