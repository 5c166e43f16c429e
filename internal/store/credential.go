package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"

	"github.com/chorusgw/chorus"
)

// ErrNoSecretKey is wrapped by errors from methods that must seal or open a
// credential when the DB was opened without a Sealer.
var ErrNoSecretKey = errors.New("no secret key is configured: set CHORUS_SECRET_KEY (or secret_key_file)")

const credentialColumns = `id, name, provider, hint, created_at, updated_at` // #nosec G101 -- SQL column names, not a credential

// minHintLen is the shortest secret that gets a hint: showing the last four
// characters of a shorter one would give away too much of it.
const minHintLen = 8

// CreateCredential seals c.Secret with the DB's Sealer and stores it, and
// sets c's ID, Hint (the last four characters of the secret), CreatedAt and
// UpdatedAt. The sealed value is bound to the credential's ID, so it cannot
// be copied to another row. A taken name is ECONFLICT.
func (db *DB) CreateCredential(ctx context.Context, c *chorus.Credential) error {
	if err := c.Validate(); err != nil {
		return err
	}
	if c.Secret == "" {
		return chorus.Invalid("secret", "secret is required")
	}
	if db.sealer == nil {
		return fmt.Errorf("create credential: %w", ErrNoSecretKey)
	}
	secretMAC, err := db.auditSecret(ctx, c.Secret)
	if err != nil {
		return fmt.Errorf("create credential: %w", err)
	}
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	c.CreatedAt = db.timeNow()
	c.UpdatedAt = c.CreatedAt
	c.Hint = hint(c.Secret)
	// The ID is the associated data, so insert first and seal second.
	err = tx.queryRow(ctx, `INSERT INTO credentials (name, provider, secret_enc, hint, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?) RETURNING id`,
		c.Name, c.Provider, []byte{}, c.Hint, c.CreatedAt, c.UpdatedAt).Scan(&c.ID)
	if db.d.isUnique(err) {
		return conflict(err, "a credential named %q exists already", c.Name)
	}
	if err != nil {
		return fmt.Errorf("create credential: %w", err)
	}
	if err := db.sealCredential(ctx, tx, c); err != nil {
		return fmt.Errorf("create credential: %w", err)
	}
	return commitRegistryChange(ctx, tx, auditEntry(chorus.AuditCredentialCreated, "credential", idString(c.ID), 0,
		map[string]any{"name": c.Name, "provider": c.Provider, "secret": secretMAC}))
}

// UpdateCredential renames a credential and sets its provider, and when
// c.Secret is not empty, seals and stores the new secret. It sets Hint,
// CreatedAt and UpdatedAt. ENOTFOUND if there is no such credential;
// ECONFLICT if the name is taken.
func (db *DB) UpdateCredential(ctx context.Context, c *chorus.Credential) error {
	if err := c.Validate(); err != nil {
		return err
	}
	if c.Secret != "" && db.sealer == nil {
		return fmt.Errorf("update credential: %w", ErrNoSecretKey)
	}
	details := map[string]any{"name": c.Name, "provider": c.Provider, "secret_changed": c.Secret != ""}
	if c.Secret != "" {
		mac, err := db.auditSecret(ctx, c.Secret)
		if err != nil {
			return fmt.Errorf("update credential: %w", err)
		}
		details["secret"] = mac
	}
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	c.UpdatedAt = db.timeNow()
	err = tx.queryRow(ctx, `UPDATE credentials SET name = ?, provider = ?, updated_at = ? WHERE id = ?
		RETURNING hint, created_at`,
		c.Name, c.Provider, c.UpdatedAt, c.ID).Scan(&c.Hint, scanTime(&c.CreatedAt))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return notFound("credential %d not found", c.ID)
	case db.d.isUnique(err):
		return conflict(err, "a credential named %q exists already", c.Name)
	case err != nil:
		return fmt.Errorf("update credential: %w", err)
	}
	if c.Secret != "" {
		c.Hint = hint(c.Secret)
		if err := db.sealCredential(ctx, tx, c); err != nil {
			return fmt.Errorf("update credential: %w", err)
		}
	}
	return commitRegistryChange(ctx, tx, auditEntry(chorus.AuditCredentialUpdated, "credential", idString(c.ID), 0, details))
}

// DeleteCredential deletes a credential. ENOTFOUND if there is no such
// credential; ECONFLICT while deployments still use it.
func (db *DB) DeleteCredential(ctx context.Context, id int64) error {
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var name string
	err = tx.queryRow(ctx, `SELECT name FROM credentials WHERE id = ?`, id).Scan(&name)
	if errors.Is(err, sql.ErrNoRows) {
		return notFound("credential %d not found", id)
	}
	if err != nil {
		return fmt.Errorf("delete credential: %w", err)
	}
	var inUse int
	if err := tx.queryRow(ctx, `SELECT COUNT(*) FROM deployments WHERE credential_id = ?`, id).Scan(&inUse); err != nil {
		return fmt.Errorf("delete credential: %w", err)
	}
	if inUse > 0 {
		return chorus.Errorf(chorus.ECONFLICT, "credential %q is used by %d deployment(s): change or delete them first", name, inUse)
	}
	_, err = tx.exec(ctx, `DELETE FROM credentials WHERE id = ?`, id)
	if db.d.isForeignKey(err) { // a deployment started using it since the count
		return conflict(err, "credential %q is used by a deployment: change or delete it first", name)
	}
	if err != nil {
		return fmt.Errorf("delete credential: %w", err)
	}
	return commitRegistryChange(ctx, tx, auditEntry(chorus.AuditCredentialDeleted, "credential", idString(id), 0, map[string]any{"name": name}))
}

// CredentialByID returns a credential with its secret decrypted, or
// ENOTFOUND. It fails (wrapping ErrNoSecretKey) without a Sealer, and names
// the credential when the Sealer holds the wrong key.
func (db *DB) CredentialByID(ctx context.Context, id int64) (*chorus.Credential, error) {
	if db.sealer == nil {
		return nil, fmt.Errorf("get credential: %w", ErrNoSecretKey)
	}
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var c chorus.Credential
	var sealed []byte
	err = tx.queryRow(ctx, `SELECT `+credentialColumns+`, secret_enc FROM credentials WHERE id = ?`, id).
		Scan(&c.ID, &c.Name, &c.Provider, &c.Hint, scanTime(&c.CreatedAt), scanTime(&c.UpdatedAt), &sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("credential %d not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("get credential: %w", err)
	}
	if c.Secret, err = db.openCredential(c.ID, c.Name, sealed); err != nil {
		return nil, err
	}
	return &c, nil
}

// ListCredentials returns one page of credentials in ID order, without
// their secrets.
func (db *DB) ListCredentials(ctx context.Context, page chorus.Page) ([]*chorus.Credential, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	rows, err := tx.query(ctx, `SELECT `+credentialColumns+` FROM credentials WHERE id > ? ORDER BY id LIMIT ?`,
		page.After, limit(page))
	if err != nil {
		return nil, fmt.Errorf("list credentials: %w", err)
	}
	defer rows.Close()
	var out []*chorus.Credential
	for rows.Next() {
		var c chorus.Credential
		if err := rows.Scan(&c.ID, &c.Name, &c.Provider, &c.Hint, scanTime(&c.CreatedAt), scanTime(&c.UpdatedAt)); err != nil {
			return nil, fmt.Errorf("list credentials: %w", err)
		}
		out = append(out, &c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list credentials: %w", err)
	}
	return out, nil
}

// CheckSecrets verifies at start that every stored credential can be
// decrypted: it fails when credentials exist but no key is configured, and
// names the first credential the configured key cannot open.
func (db *DB) CheckSecrets(ctx context.Context) error {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	_, err = db.credentialSecrets(ctx, tx)
	return err
}

// credentialSecrets decrypts every credential, by ID.
func (db *DB) credentialSecrets(ctx context.Context, tx *tx) (map[int64]string, error) {
	rows, err := tx.query(ctx, `SELECT id, name, secret_enc FROM credentials ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("read credentials: %w", err)
	}
	defer rows.Close()
	type sealedRow struct {
		id     int64
		name   string
		sealed []byte
	}
	var sealed []sealedRow
	for rows.Next() {
		var r sealedRow
		if err := rows.Scan(&r.id, &r.name, &r.sealed); err != nil {
			return nil, fmt.Errorf("read credentials: %w", err)
		}
		sealed = append(sealed, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read credentials: %w", err)
	}
	out := make(map[int64]string, len(sealed))
	if len(sealed) > 0 && db.sealer == nil {
		return nil, fmt.Errorf("%d provider credentials are stored encrypted; "+
			"set CHORUS_SECRET_KEY (or secret_key_file) to the key they were sealed with", len(sealed))
	}
	for _, r := range sealed {
		s, err := db.openCredential(r.id, r.name, r.sealed)
		if err != nil {
			return nil, err
		}
		out[r.id] = s
	}
	return out, nil
}

func (db *DB) sealCredential(ctx context.Context, tx *tx, c *chorus.Credential) error {
	sealed, err := db.sealer.Seal([]byte(c.Secret), credentialAD(c.ID))
	if err != nil {
		return err
	}
	_, err = tx.exec(ctx, `UPDATE credentials SET secret_enc = ?, hint = ? WHERE id = ?`, sealed, c.Hint, c.ID)
	return err
}

func (db *DB) openCredential(id int64, name string, sealed []byte) (string, error) {
	pt, err := db.sealer.Open(sealed, credentialAD(id))
	if err != nil {
		return "", fmt.Errorf("credential %q (id %d) cannot be decrypted; is the secret key the one it was sealed with? %w", name, id, err)
	}
	return string(pt), nil
}

// credentialAD is the associated data a credential's secret is sealed with.
func credentialAD(id int64) []byte { return []byte("chorus/credential/" + strconv.FormatInt(id, 10)) }

// hint returns the last four characters of a secret long enough to spare
// them.
func hint(secret string) string {
	r := []rune(secret)
	if len(r) < minHintLen {
		return ""
	}
	return string(r[len(r)-4:])
}
