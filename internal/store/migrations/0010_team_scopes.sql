-- Feedback belongs to the team whose key or member gave it, so customers
-- can list their own team's feedback.

ALTER TABLE feedback ADD COLUMN team_id BIGINT NOT NULL DEFAULT 0;
UPDATE feedback SET team_id = COALESCE((SELECT u.team_id FROM users u WHERE u.id = feedback.user_id), 0);
CREATE INDEX feedback_team_id ON feedback (team_id, id);

-- Invitations can be revoked before they are used.
ALTER TABLE invites ADD COLUMN revoked_at {{timestamp}};
CREATE INDEX invites_team_id ON invites (team_id, id);
