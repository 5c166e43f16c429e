package audit_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/audit"
)

// TestHashVector pins the canonical encoding: the expected hash was
// computed by an independent implementation (Python's struct and hashlib)
// following the package doc.
func TestHashVector(t *testing.T) {
	e := &chorus.AuditEntry{
		Seq:        2,
		At:         time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC),
		Actor:      chorus.Actor{UserID: 7, SessionID: 3, IP: "203.0.113.5", RequestID: "req-1"},
		Action:     "key.created",
		TargetType: "key",
		TargetID:   "42",
		TeamID:     9,
		Details:    []byte(`{ "prefix": "sk-abc", "name": "ci" }`),
	}
	if err := audit.Normalize(e); err != nil {
		t.Fatal(err)
	}
	audit.Seal(e, bytes.Repeat([]byte{1}, audit.HashSize))
	if got, want := hex.EncodeToString(e.Hash), "3eb94112d49579b4671e0adf114bb5f393e65eee206ffc194689e37446daeefb"; got != want {
		t.Fatalf("hash %s, want %s", got, want)
	}
	if got, want := string(e.Details), `{"name":"ci","prefix":"sk-abc"}`; got != want {
		t.Errorf("details %s, want %s", got, want)
	}
	if got, want := e.At, time.Date(2024, 5, 6, 7, 8, 9, 123456000, time.UTC); !got.Equal(want) {
		t.Errorf("at %v, want %v", got, want)
	}
}

func TestHashCoversEveryField(t *testing.T) {
	base := func() *chorus.AuditEntry {
		e := &chorus.AuditEntry{
			Seq: 5, At: time.Unix(1700000000, 1000).UTC(),
			Actor:  chorus.Actor{UserID: 1, KeyID: 2, SessionID: 3, IP: "ip", RequestID: "rid", System: "sys"},
			Action: "a", TargetType: "t", TargetID: "id", TeamID: 4, Details: []byte(`{"x":1}`),
			PrevHash: audit.ZeroHash(),
		}
		return e
	}
	ref := audit.Hash(base())
	for name, edit := range map[string]func(e *chorus.AuditEntry){
		"Seq":        func(e *chorus.AuditEntry) { e.Seq++ },
		"At":         func(e *chorus.AuditEntry) { e.At = e.At.Add(time.Microsecond) },
		"UserID":     func(e *chorus.AuditEntry) { e.Actor.UserID++ },
		"KeyID":      func(e *chorus.AuditEntry) { e.Actor.KeyID++ },
		"SessionID":  func(e *chorus.AuditEntry) { e.Actor.SessionID++ },
		"IP":         func(e *chorus.AuditEntry) { e.Actor.IP += "x" },
		"RequestID":  func(e *chorus.AuditEntry) { e.Actor.RequestID += "x" },
		"System":     func(e *chorus.AuditEntry) { e.Actor.System += "x" },
		"Action":     func(e *chorus.AuditEntry) { e.Action += "x" },
		"TargetType": func(e *chorus.AuditEntry) { e.TargetType += "x" },
		"TargetID":   func(e *chorus.AuditEntry) { e.TargetID += "x" },
		"TeamID":     func(e *chorus.AuditEntry) { e.TeamID++ },
		"Details":    func(e *chorus.AuditEntry) { e.Details = []byte(`{"x":2}`) },
		"PrevHash":   func(e *chorus.AuditEntry) { e.PrevHash = bytes.Repeat([]byte{1}, audit.HashSize) },
		// Length prefixes keep field boundaries: moving a byte from one
		// string to the next changes the hash.
		"Boundary": func(e *chorus.AuditEntry) { e.TargetType, e.TargetID = "ti", "d" },
	} {
		t.Run(name, func(t *testing.T) {
			e := base()
			edit(e)
			if bytes.Equal(audit.Hash(e), ref) {
				t.Fatal("hash did not change")
			}
		})
	}
}

func TestCanonical(t *testing.T) {
	for _, tt := range []struct {
		name, in, want string
	}{
		{"Empty", "", ""},
		{"Whitespace", " \n\t", ""},
		{"Null", " null ", ""},
		{"SortedCompact", `{ "b": 1, "a": [true, false, null], "c": {"z": "", "y": {}} }`, `{"a":[true,false,null],"b":1,"c":{"y":{},"z":""}}`},
		{"NumbersExact", `[12345678901234567890123, 1.10, -0, 1e400, 0.1]`, `[12345678901234567890123,1.10,-0,1e400,0.1]`},
		{"KeysByteOrder", `{"é":1,"z":2,"Z":3,"a":4}`, `{"Z":3,"a":4,"z":2,"é":1}`},
		{"DuplicateKeyLastWins", `{"a":1,"a":2}`, `{"a":2}`},
		{"Escapes", `"q\" b\\ \u0001 \b\f\n\r\t / \u007f <&> é \u2028"`, "\"q\\\" b\\\\ \\u0001 \\b\\f\\n\\r\\t / \x7f <&> é \u2028\""},
		{"InvalidUTF8", "\"a\xffb\"", "\"a\uFFFDb\""},
		{"Scalar", `"x"`, `"x"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := audit.Canonical([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
			again, err := audit.Canonical(got)
			if err != nil || !bytes.Equal(again, got) {
				t.Fatalf("not idempotent: %s, %v", again, err)
			}
		})
	}
	for _, in := range []string{`{`, `{"a":1} x`, `[1,]`, `nul`, `{"a":01}`} {
		t.Run("Err/"+in, func(t *testing.T) {
			if _, err := audit.Canonical([]byte(in)); !errors.Is(err, audit.ErrDetails) {
				t.Fatalf("got %v, want ErrDetails", err)
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	e := &chorus.AuditEntry{
		At:     time.Date(2024, 1, 2, 3, 4, 5, 999, time.FixedZone("X", 3600)),
		Action: "bad\xff", TargetID: "nul\x00", Actor: chorus.Actor{IP: "ok"},
	}
	if err := audit.Normalize(e); err != nil {
		t.Fatal(err)
	}
	if e.At.Location() != time.UTC || e.At.Nanosecond() != 0 {
		t.Errorf("at %v: not UTC microseconds", e.At)
	}
	if got, want := e.Action, "bad\uFFFD"; got != want {
		t.Errorf("action %q, want %q", got, want)
	}
	if got, want := e.TargetID, "nul\uFFFD"; got != want {
		t.Errorf("target id %q, want %q", got, want)
	}
	if e.Details != nil {
		t.Errorf("details %s, want nil", e.Details)
	}
	e.Details = []byte(`{"a":`)
	if err := audit.Normalize(e); !errors.Is(err, audit.ErrDetails) {
		t.Errorf("got %v, want ErrDetails", err)
	}
}

func TestHMAC(t *testing.T) {
	got := audit.HMAC([]byte("k"), "secret")
	if want := "hmac-sha256:cc7eb5fa4bdffbf43700c5657391feff076e392e64e756afd96b3139e28406c2"; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	if audit.HMAC([]byte("other"), "secret") == got {
		t.Error("the key does not change the HMAC")
	}
	if strings.Contains(got, "secret") {
		t.Error("the secret shows")
	}
}

func TestDeriveKey(t *testing.T) {
	master := bytes.Repeat([]byte{7}, 32)
	k := audit.DeriveKey(master)
	if len(k) != 32 || bytes.Equal(k, master) || !bytes.Equal(k, audit.DeriveKey(master)) {
		t.Fatalf("key %x", k)
	}
	if bytes.Equal(k, audit.DeriveKey(bytes.Repeat([]byte{8}, 32))) {
		t.Error("different masters give the same key")
	}
}

// chain returns n sealed entries.
func chain(t *testing.T, n int) []*chorus.AuditEntry {
	t.Helper()
	out := make([]*chorus.AuditEntry, n)
	prev := audit.ZeroHash()
	for i := range out {
		e := &chorus.AuditEntry{Seq: int64(i + 1), At: time.Unix(1700000000+int64(i), 0), Action: "test.event",
			TargetType: "thing", TargetID: fmt.Sprint(i), Details: []byte(fmt.Sprintf(`{"i":%d}`, i))}
		if err := audit.Normalize(e); err != nil {
			t.Fatal(err)
		}
		audit.Seal(e, prev)
		prev = e.Hash
		out[i] = e
	}
	return out
}

func clone(e *chorus.AuditEntry) *chorus.AuditEntry {
	c := *e
	c.Details = bytes.Clone(e.Details)
	c.PrevHash = bytes.Clone(e.PrevHash)
	c.Hash = bytes.Clone(e.Hash)
	return &c
}

func TestVerifier(t *testing.T) {
	const n = 10
	for _, tt := range []struct {
		name string
		// tamper edits the entries and returns the head to check against
		// (nil: the last entry's seq and hash).
		tamper   func(es []*chorus.AuditEntry) ([]*chorus.AuditEntry, *chorus.AuditEntry)
		wantSeq  int64
		wantKind string
	}{
		{"OK", func(es []*chorus.AuditEntry) ([]*chorus.AuditEntry, *chorus.AuditEntry) { return es, nil }, 0, ""},
		{"Modified", func(es []*chorus.AuditEntry) ([]*chorus.AuditEntry, *chorus.AuditEntry) {
			es[4].TargetID = "forged"
			return es, nil
		}, 5, audit.KindModified},
		{"ModifiedHash", func(es []*chorus.AuditEntry) ([]*chorus.AuditEntry, *chorus.AuditEntry) {
			es[2].Hash[0] ^= 1
			return es, nil
		}, 3, audit.KindModified},
		{"Deleted", func(es []*chorus.AuditEntry) ([]*chorus.AuditEntry, *chorus.AuditEntry) {
			return append(es[:5:5], es[6:]...), nil
		}, 6, audit.KindMissing},
		{"DeletedFirst", func(es []*chorus.AuditEntry) ([]*chorus.AuditEntry, *chorus.AuditEntry) {
			return es[1:], nil
		}, 1, audit.KindMissing},
		{"Swapped", func(es []*chorus.AuditEntry) ([]*chorus.AuditEntry, *chorus.AuditEntry) {
			a, b := clone(es[2]), clone(es[7])
			a.Seq, b.Seq = 8, 3
			es[2], es[7] = b, a
			return es, nil
		}, 3, audit.KindReordered},
		{"Renumbered", func(es []*chorus.AuditEntry) ([]*chorus.AuditEntry, *chorus.AuditEntry) {
			// Delete 4 and move every later entry down by one.
			out := es[:3:3]
			for _, e := range es[4:] {
				e = clone(e)
				e.Seq--
				out = append(out, e)
			}
			return out, out[len(out)-1]
		}, 4, audit.KindReordered},
		{"Truncated", func(es []*chorus.AuditEntry) ([]*chorus.AuditEntry, *chorus.AuditEntry) {
			return es[:n-2], es[n-1]
		}, n - 1, audit.KindTruncated},
		{"TruncatedAll", func(es []*chorus.AuditEntry) ([]*chorus.AuditEntry, *chorus.AuditEntry) {
			return nil, es[n-1]
		}, 1, audit.KindTruncated},
		{"Unanchored", func(es []*chorus.AuditEntry) ([]*chorus.AuditEntry, *chorus.AuditEntry) {
			return es, es[n-3]
		}, n - 1, audit.KindUnanchored},
		{"RewrittenMiddle", func(es []*chorus.AuditEntry) ([]*chorus.AuditEntry, *chorus.AuditEntry) {
			es[6].Details = []byte(`{"i":"forged"}`)
			audit.Seal(es[6], es[6].PrevHash)
			return es, nil
		}, 7, audit.KindRewritten},
		{"RewrittenLast", func(es []*chorus.AuditEntry) ([]*chorus.AuditEntry, *chorus.AuditEntry) {
			head := clone(es[n-1])
			es[n-1].Action = "forged"
			audit.Seal(es[n-1], es[n-1].PrevHash)
			return es, head
		}, n, audit.KindRewritten},
		{"ForgedFirst", func(es []*chorus.AuditEntry) ([]*chorus.AuditEntry, *chorus.AuditEntry) {
			audit.Seal(es[0], bytes.Repeat([]byte{9}, audit.HashSize))
			return es[:1], es[0]
		}, 1, audit.KindModified},
	} {
		t.Run(tt.name, func(t *testing.T) {
			es, head := tt.tamper(chain(t, n))
			var v audit.Verifier
			for _, e := range es {
				v.Add(e)
			}
			headSeq, headHash := v.Head()
			if head != nil {
				headSeq, headHash = head.Seq, head.Hash
			}
			p := v.End(headSeq, headHash)
			if tt.wantKind == "" {
				if p != nil {
					t.Fatalf("problem %v in an intact chain", p)
				}
				if got := v.Entries(); got != n {
					t.Errorf("entries %d, want %d", got, n)
				}
				return
			}
			if p == nil {
				t.Fatal("tampering not detected")
			}
			if p.Seq != tt.wantSeq || p.Kind != tt.wantKind {
				t.Fatalf("got %v, want seq %d kind %s", p, tt.wantSeq, tt.wantKind)
			}
		})
	}
}

func TestVerifierEmpty(t *testing.T) {
	var v audit.Verifier
	if p := v.End(0, audit.ZeroHash()); p != nil {
		t.Fatalf("empty chain: %v", p)
	}
}
