-- One row per answer per key AND user: feedback given in a session has no
-- key (key_id 0), so two members of a team rating one answer in the
-- console must not share a row.

ALTER TABLE feedback DROP CONSTRAINT feedback_response_id_key_id_key;
ALTER TABLE feedback ADD CONSTRAINT feedback_response_id_key_id_user_id_key UNIQUE (response_id, key_id, user_id);
