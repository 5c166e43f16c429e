package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"sort"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/config"
	"github.com/chorusgw/chorus/internal/store"
)

// secretField names configuration fields whose values are secrets: they
// enter the config digest only as HMACs, so a changed secret is recorded
// as a change without the audit log learning the secret.
var secretField = regexp.MustCompile(`(?i)(secret|password|token|master_key|database_url|redis_url|_key$)`)

// recordConfig writes a config.changed audit entry when the effective
// configuration differs from the one recorded at the last start. The
// details hold one digest per section, so consecutive entries show which
// sections changed.
func recordConfig(ctx context.Context, db *store.DB, cfg config.Config) (bool, error) {
	hmac := func(s string) string {
		h, err := db.AuditSecret(ctx, s)
		if err != nil {
			return "unavailable"
		}
		return h
	}
	sections := configSections(cfg, hmac)
	names := make([]string, 0, len(sections))
	for n := range sections {
		names = append(names, n)
	}
	sort.Strings(names)
	h := sha256.New()
	summary := make(map[string]string, len(sections))
	for _, n := range names {
		fmt.Fprintf(h, "%s=%s\n", n, sections[n])
		summary[n] = sections[n][:16]
	}
	ctx = chorus.NewContextWithActor(ctx, chorus.Actor{System: "config"})
	return db.RecordConfig(ctx, hex.EncodeToString(h.Sum(nil)), map[string]any{"sections": summary})
}

// configSections returns a digest of each top-level configuration key.
func configSections(cfg config.Config, hmac func(string) string) map[string]string {
	out := map[string]string{}
	v := reflect.ValueOf(cfg)
	t := v.Type()
	for i := range t.NumField() {
		name := t.Field(i).Tag.Get("yaml")
		if name == "" || name == "-" {
			continue
		}
		b, _ := json.Marshal(redact(name, v.Field(i), hmac))
		sum := sha256.Sum256(b)
		out[name] = hex.EncodeToString(sum[:])
	}
	return out
}

// redact returns v as plain data with secret-named string fields replaced
// by their HMACs.
func redact(name string, v reflect.Value, hmac func(string) string) any {
	switch v.Kind() {
	case reflect.Struct:
		m := map[string]any{}
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if !f.IsExported() {
				continue
			}
			tag := f.Tag.Get("yaml")
			if tag == "" {
				tag = f.Name
			}
			m[tag] = redact(tag, v.Field(i), hmac)
		}
		return m
	case reflect.String:
		if s := v.String(); s != "" && secretField.MatchString(name) {
			return hmac(s)
		}
		return v.String()
	case reflect.Slice, reflect.Array:
		out := make([]any, v.Len())
		for i := range v.Len() {
			out[i] = redact(name, v.Index(i), hmac)
		}
		return out
	case reflect.Map:
		m := map[string]any{}
		for _, k := range v.MapKeys() {
			ks := fmt.Sprint(k.Interface())
			m[ks] = redact(ks, v.MapIndex(k), hmac)
		}
		return m
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return redact(name, v.Elem(), hmac)
	}
	return v.Interface()
}
