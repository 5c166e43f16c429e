package auth

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/chorusgw/chorus"
	"golang.org/x/text/unicode/norm"
)

// MaxNameLength bounds a person's or a team's name, in characters.
const MaxNameLength = 100

// maxMarks bounds the combining marks on one base character: real scripts
// need two or three (Vietnamese, Devanagari); "Zalgo" text stacks dozens
// to draw over the rest of the page.
const maxMarks = 4

// NormalizeName validates a display name (a person's or a team's) and
// returns its stored form. Names are shown to other people — teammates,
// admins, the audit log — so the rules aim at names that read as what they
// are:
//
//   - NFKC normalisation first, so that canonically equivalent spellings
//     are stored alike and compatibility forms (full-width "Ａｄｍｉｎ",
//     ligatures, superscripts, the many Unicode spaces) fold to their plain
//     characters before anything is checked;
//   - no control characters, no format characters (Cf: zero-width spaces
//     and joiners, bidirectional overrides and isolates that can reorder
//     the text around them, soft hyphens, the BOM), no line or paragraph
//     separators, no private-use, surrogate or unassigned code points;
//   - runs of spaces collapse to one and the ends are trimmed; the result
//     holds 1 to MaxNameLength characters, with at most maxMarks combining
//     marks on one character;
//   - one script per name, as Unicode's UTS #39 "highly restrictive" level
//     defines it: the letters of a name come from a single script (Common
//     and Inherited characters — digits, punctuation, marks — go with any),
//     or from Latin with the scripts written together with Han in Japanese
//     (Han, Hiragana, Katakana), Chinese (Han, Bopomofo) or Korean (Han,
//     Hangul). This refuses the impersonations that mix look-alike letters
//     from two alphabets, such as "Аdmin" whose first letter is Cyrillic,
//     or a Greek omicron in a Latin word. A name written wholly in another
//     script that happens to look Latin (a "whole-script confusable") is
//     allowed: telling it apart needs Unicode's confusables data, and such
//     names are rare and cannot mimic most Latin words.
//
// Errors are EINVALID about param.
func NormalizeName(param, s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", chorus.Invalid(param, "%s must be valid UTF-8", param)
	}
	// Refuse the absurd before normalising it (NFKC may grow a string).
	if len(s) > 4*4*MaxNameLength {
		return "", chorus.Invalid(param, "%s must be at most %d characters", param, MaxNameLength)
	}
	s = norm.NFKC.String(s)
	var b strings.Builder
	space, marks, n := false, 0, 0
	for _, r := range s {
		switch {
		case r == ' ':
			space = b.Len() > 0
			marks = 0
			continue
		case unicode.IsSpace(r):
			return "", chorus.Invalid(param, "%s must not contain tabs, line breaks or other special spaces", param)
		case !printableNameRune(r):
			return "", chorus.Invalid(param, "%s must not contain control, formatting, zero-width or direction-changing characters (found U+%04X)", param, r)
		}
		if unicode.Is(unicode.M, r) {
			if marks++; marks > maxMarks {
				return "", chorus.Invalid(param, "%s has too many combining marks on one character", param)
			}
		} else {
			marks = 0
		}
		if space {
			b.WriteByte(' ')
			n++
			space = false
		}
		b.WriteRune(r)
		n++
	}
	out := b.String()
	switch {
	case n == 0:
		return "", chorus.Invalid(param, "%s is required", param)
	case n > MaxNameLength:
		return "", chorus.Invalid(param, "%s must be at most %d characters", param, MaxNameLength)
	}
	if err := singleScript(out); err != nil {
		return "", chorus.Invalid(param, "%s %s", param, err.Error())
	}
	return out, nil
}

// printableNameRune reports whether r is an assigned, visible character:
// a letter, mark, number, punctuation or symbol (spaces are handled by the
// caller). Cc, Cf, Co, Cs, Cn, Zl and Zp are all refused.
func printableNameRune(r rune) bool {
	return unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S)
}

// scriptSets are the combinations of scripts UTS #39 ("highly restrictive")
// allows in one identifier besides a single script.
var scriptSets = [][]string{
	{"Latin", "Han", "Hiragana", "Katakana"},
	{"Latin", "Han", "Bopomofo"},
	{"Latin", "Han", "Hangul"},
}

type scriptError string

func (e scriptError) Error() string { return string(e) }

// singleScript checks the script rule of NormalizeName.
func singleScript(s string) error {
	var seen []string
	var last *unicode.RangeTable
	for _, r := range s {
		if unicode.In(r, unicode.Common, unicode.Inherited) {
			continue
		}
		if last != nil && unicode.Is(last, r) {
			continue
		}
		name, table := scriptOf(r)
		if table == nil {
			continue
		}
		last = table
		if !slices.Contains(seen, name) {
			seen = append(seen, name)
		}
	}
	if len(seen) <= 1 {
		return nil
	}
	for _, set := range scriptSets {
		ok := true
		for _, sc := range seen {
			ok = ok && slices.Contains(set, sc)
		}
		if ok {
			return nil
		}
	}
	return scriptError("mixes letters of different scripts (" + strings.Join(seen, ", ") +
		"), which can imitate another name: write it in one script")
}

// scriptOf returns the Unicode script of r.
func scriptOf(r rune) (string, *unicode.RangeTable) {
	// The scripts most names are written in first; the rest by search.
	for _, name := range []string{"Latin", "Cyrillic", "Greek", "Han", "Arabic", "Hebrew", "Devanagari", "Hangul", "Hiragana", "Katakana"} {
		if t := unicode.Scripts[name]; unicode.Is(t, r) {
			return name, t
		}
	}
	for name, t := range unicode.Scripts {
		if unicode.Is(t, r) {
			return name, t
		}
	}
	return "", nil
}
