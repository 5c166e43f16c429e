-- Placeholder: filled by the work on this part (keeps migration versions contiguous).
CREATE TABLE placeholder_metering (id INTEGER);
DROP TABLE placeholder_metering;
