-- Placeholder: filled by the work on this part (keeps migration versions contiguous).
CREATE TABLE placeholder_shop (id INTEGER);
DROP TABLE placeholder_shop;
