package auth_test

import (
	"strings"
	"testing"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/auth"
)

func TestNormalizeEmail(t *testing.T) {
	ok := []struct{ name, in, want string }{
		{"Plain", "ada@example.com", "ada@example.com"},
		{"TrimAndLower", "  Ada.Lovelace+tag@Example.COM \n", "ada.lovelace+tag@example.com"},
		{"Subdomain", "x@mail.eu.example.org", "x@mail.eu.example.org"},
		{"Punycode", "user@xn--bcher-kva.example", "user@xn--bcher-kva.example"},
		{"Longest", strings.Repeat("a", 64) + "@" + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 57), ""},
	}
	for _, tc := range ok {
		t.Run(tc.name, func(t *testing.T) {
			got, err := auth.NormalizeEmail("email", tc.in)
			if err != nil {
				t.Fatalf("NormalizeEmail(%q): %v", tc.in, err)
			}
			want := tc.want
			if want == "" {
				want = strings.ToLower(strings.TrimSpace(tc.in))
			}
			if got != want {
				t.Errorf("got %q, want %q", got, want)
			}
		})
	}
	bad := []struct{ name, in, msg string }{
		{"Empty", "   ", "required"},
		{"NoAt", "ada.example.com", "plain email"},
		{"TwoAddresses", "a@example.com, b@example.com", "spaces"},
		{"DisplayName", "Ada <ada@example.com>", "spaces"},
		{"AngleBrackets", "<ada@example.com>", "plain email"},
		{"Comment", "ada@example.com(comment)", "plain email"},
		{"QuotedLocal", `"ada"@example.com`, "plain email"},
		{"NoDomainDot", "ada@localhost", "domain"},
		{"IPLiteral", "ada@[127.0.0.1]", "domain"},
		{"NumericTLD", "ada@10.0.0.1", "domain"},
		{"HyphenLabel", "ada@-example.com", "domain"},
		{"Underscore", "ada@exa_mple.com", "domain"},
		{"TooLong", strings.Repeat("a", 64) + "@" + strings.Repeat("b.", 100) + "com", "at most 254"},
		{"LocalTooLong", strings.Repeat("a", 65) + "@example.com", "plain email"},
		{"NonASCII", "ädä@example.com", "ASCII"},
		{"IDNDomain", "ada@bücher.example", "punycode"},
		{"CyrillicLookalike", "аda@example.com", "ASCII"},
		{"ControlChar", "ada\x00@example.com", "control"},
		{"Newline", "ada@example.com\nBcc: x@example.com", "control"},
		{"SQLInjection", "' OR 1=1 --@example.com", "spaces"},
		{"Script", "<script>alert(1)</script>@example.com", "plain email"},
	}
	for _, tc := range bad {
		t.Run("Err"+tc.name, func(t *testing.T) {
			got, err := auth.NormalizeEmail("email", tc.in)
			if err == nil {
				t.Fatalf("NormalizeEmail(%q) = %q, want an error", tc.in, got)
			}
			assertInvalid(t, err, "email", tc.msg)
		})
	}
}

func TestNormalizeName(t *testing.T) {
	ok := []struct{ name, in, want string }{
		{"Plain", "Ada Lovelace", "Ada Lovelace"},
		{"Trim", "  Ada   Lovelace  ", "Ada Lovelace"},
		{"NFKCFullWidth", "Ａｄａ", "Ada"},
		{"NFKCNoBreakSpace", "Ada\u00a0Lovelace", "Ada Lovelace"},
		{"NFCComposes", "Rene\u0301e", "Renée"},
		{"Cyrillic", "Анна Каренина", "Анна Каренина"},
		{"Greek", "Σωκράτης", "Σωκράτης"},
		{"Japanese", "山田 たろう タロウ", "山田 たろう タロウ"},
		{"JapaneseWithLatin", "Taro 山田", "Taro 山田"},
		{"Korean", "김민수 Kim", "김민수 Kim"},
		{"Arabic", "محمد", "محمد"},
		{"Devanagari", "प्रिया", "प्रिया"},
		{"DigitsAndPunctuation", "O'Brien-Smith 3rd (ops)", "O'Brien-Smith 3rd (ops)"},
		{"SQLStoredVerbatim", "Robert'); DROP TABLE users;--", "Robert'); DROP TABLE users;--"},
		{"ScriptStoredVerbatim", "<script>alert(1)</script>", "<script>alert(1)</script>"},
		{"Emoji", "Ada 🚀", "Ada 🚀"},
	}
	for _, tc := range ok {
		t.Run(tc.name, func(t *testing.T) {
			got, err := auth.NormalizeName("name", tc.in)
			if err != nil {
				t.Fatalf("NormalizeName(%q): %v", tc.in, err)
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	bad := []struct{ name, in, msg string }{
		{"Empty", "", "required"},
		{"OnlySpaces", " \u3000 ", "required"},
		{"TooLong", strings.Repeat("a", auth.MaxNameLength+1), "at most 100"},
		{"Huge", strings.Repeat("a", 1<<20), "at most 100"},
		{"InvalidUTF8", "Ada\xff", "UTF-8"},
		{"Tab", "Ada\tLovelace", "tabs"},
		{"Newline", "Ada\nAdmin", "tabs"},
		{"Null", "Ada\x00", "control"},
		{"ZeroWidthSpace", "Ad\u200bmin", "zero-width"},
		{"ZeroWidthJoiner", "Ad\u200dmin", "zero-width"},
		{"BidiOverride", "Ada\u202egnp.exe", "direction"},
		{"BidiIsolate", "\u2066Ada\u2069", "direction"},
		{"SoftHyphen", "Ad\u00admin", "formatting"},
		{"BOM", "\ufeffAdmin", "formatting"},
		{"LineSeparator", "Ada\u2028Admin", "tabs"},
		{"PrivateUse", "Ada\ue000", "control"},
		{"Unassigned", "Ada\U000e0fff", "control"},
		{"CyrillicA", "Аdmin", "mixes letters"},
		{"GreekOmicron", "Bοb", "mixes letters"},
		{"LatinCyrillicWords", "Admin Администратор", "mixes letters"},
		{"CyrillicGreek", "Αнна", "mixes letters"},
		{"Zalgo", "A" + strings.Repeat("\u0301", 10), "combining marks"},
	}
	for _, tc := range bad {
		t.Run("Err"+tc.name, func(t *testing.T) {
			got, err := auth.NormalizeName("name", tc.in)
			if err == nil {
				t.Fatalf("NormalizeName(%q) = %q, want an error", tc.in, got)
			}
			assertInvalid(t, err, "name", tc.msg)
		})
	}
}

func TestPasswordPolicy(t *testing.T) {
	p := auth.PasswordPolicy{MinLength: 12}
	if n := auth.CommonPasswordCount(); n < 10000 {
		t.Fatalf("common password list holds %d, want at least 10000", n)
	}
	personal := []string{"ada.lovelace@example.com", "Ada Lovelace"}
	ok := []struct{ name, pw string }{
		{"Long", "correct horse battery staple"},
		{"Exactly12", "x9$kT2!mQ4&z"},
		{"Unicode", "пароль-надёжный-42"},
		{"Max", strings.Repeat("ab", auth.MaxPasswordChars/2)},
	}
	for _, tc := range ok {
		t.Run(tc.name, func(t *testing.T) {
			if err := p.Check("password", tc.pw, personal...); err != nil {
				t.Fatalf("Check(%q): %v", tc.pw, err)
			}
		})
	}
	bad := []struct{ name, pw, msg string }{
		{"Empty", "", "required"},
		{"Short", "abc12345678", "at least 12"},
		{"ShortUnicode", "ééééééé1234", "at least 12"},
		{"TooLong", strings.Repeat("ab", auth.MaxPasswordChars/2) + "c", "at most 256"},
		{"Control", "abcdefghijk\x00l", "control"},
		{"Repeated", strings.Repeat("z", 20), "repeated"},
		{"Common", "leavemealone", "commonly used"},
		{"CommonCaseInsensitive", "1QAZ2WSX3EDC", "commonly used"},
		{"Common12", "123qweasdzxc", "commonly used"},
		{"Email", "Ada.Lovelace@Example.com", "email address or your name"},
		{"EmailLocalPart", "ada.lovelace", "email address"},
		{"Name", "ADA LOVELACE", "email address or your name"},
	}
	for _, tc := range bad {
		t.Run("Err"+tc.name, func(t *testing.T) {
			err := p.Check("password", tc.pw, personal...)
			if err == nil {
				t.Fatalf("Check(%q) passed, want an error", tc.pw)
			}
			assertInvalid(t, err, "password", tc.msg)
			if tc.pw != "" && strings.Contains(chorus.ErrorMessage(err), tc.pw) {
				t.Errorf("the message %q echoes the password", chorus.ErrorMessage(err))
			}
		})
	}
	t.Run("EmailLocalPartLong", func(t *testing.T) {
		err := p.Check("password", "grace.hopper.1906", "grace.hopper.1906@example.com")
		assertInvalid(t, err, "password", "email address")
	})
	t.Run("DefaultMin", func(t *testing.T) {
		assertInvalid(t, auth.PasswordPolicy{}.Check("new_password", "k3#Lq9!x2"), "new_password", "at least 12")
	})
}

func TestNormalizePassword(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"ASCIIUnchanged", "Tr0ub4dor&3 x", "Tr0ub4dor&3 x"},
		{"Decomposed", "Rene\u0301e-secret", "Renée-secret"},
		{"Compatibility", "ｐａｓｓ", "pass"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := auth.NormalizePassword(tc.in); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestNewToken(t *testing.T) {
	a, ha := auth.NewToken(auth.InvitePrefix)
	b, hb := auth.NewToken(auth.InvitePrefix)
	if !strings.HasPrefix(a, "inv_") || len(a) != len("inv_")+43 {
		t.Errorf("token %q: want inv_ and 43 base64url characters", a)
	}
	if a == b || string(ha) == string(hb) {
		t.Error("two tokens are equal")
	}
	if string(auth.HashToken(a)) != string(ha) {
		t.Error("HashToken does not match the hash NewToken returned")
	}
	if auth.VerifyNoUser("anything") {
		t.Error("VerifyNoUser returned true")
	}
}

func assertInvalid(t *testing.T, err error, param, msg string) {
	t.Helper()
	var e *chorus.Error
	if !asChorus(err, &e) || e.Code != chorus.EINVALID {
		t.Fatalf("got %v, want EINVALID", err)
	}
	if e.Param != param {
		t.Errorf("param = %q, want %q", e.Param, param)
	}
	if !strings.Contains(e.Message, msg) {
		t.Errorf("message %q does not mention %q", e.Message, msg)
	}
}

func asChorus(err error, target **chorus.Error) bool {
	e, ok := err.(*chorus.Error)
	if ok {
		*target = e
	}
	return ok
}
