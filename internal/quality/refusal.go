package quality

import (
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/chorusgw/chorus/internal/provider"
)

// Refusal detection. A refusal is an answer that declines the request: it
// starts with a declining phrase ("I can't help with that", "As an AI…",
// "I'm sorry, but I cannot…"), or it is short and its main content is one.
// Apologies alone are not refusals: "I'm sorry to hear that. Here is…" is a
// helpful answer. Declining phrases need a declining verb after them, so "I
// can't believe how simple this is" is not a refusal either.
var (
	// apology is a polite opening that may precede a refusal; it is
	// skipped before looking for one.
	apology = regexp.MustCompile(`^(?:(?:i'm|i am|im) (?:really |very |so |truly |terribly )?sorry|sorry|my apologies|apologies|i apologi[sz]e|unfortunately|regrettably|i'm afraid|i am afraid)(?:[,.!:;]|\b)\s*(?:but\s+|however,?\s+)?`)

	// declining is a refusal wherever it stands.
	declining = regexp.MustCompile(`(?:` +
		// "I can't help with", "we cannot assist", "I won't be able to provide"
		`\b(?:i|we) (?:can't|cannot|can not|won't|will not|couldn't|could not|shouldn't|should not)(?: be able to)? (?:help|assist|provide|comply|fulfil|fulfill|do that|do this|create|generate|write|produce|share|give|support|engage|discuss|answer|respond|continue|complete|offer|participate|process|facilitate|accommodate|be of|go along|proceed|talk about)` +
		// "I'm unable to", "I am not able to", "I'm not comfortable"
		`|\b(?:i'm|i am|we're|we are) (?:unable|not able|not allowed|not permitted|not going) to (?:help|assist|provide|comply|fulfil|fulfill|do|create|generate|write|produce|share|give|support|engage|discuss|answer|respond|continue|complete|offer|participate|process|talk)` +
		`|\b(?:i'm|i am) not (?:comfortable|in a position)` +
		`|\bi (?:don't|do not) feel comfortable` +
		`|\bi (?:must|have to|need to|will have to|'ll have to|would have to|'d have to|respectfully) (?:respectfully )?(?:decline|refuse)` +
		`|\b(?:that's|that is|this is|it's|it is) not something i (?:can|will|am able to)` +
		`|\bthis (?:request|content) (?:violates|goes against|is against)` +
		`)`)

	// disclaimer opens an answer with what the model is; as the first
	// words it announces a refusal or a hedge.
	disclaimer = regexp.MustCompile(`^as an? (?:ai|artificial intelligence|language model|large language model|ai language model|ai model|ai assistant|llm)\b`)
)

// refusalMainContent is how short (in characters) an answer must be for a
// declining phrase anywhere in it to make it a refusal.
const refusalMainContent = 300

// partialAfter is how long an answer that opens with a refusal must be,
// with a "but" in its first sentence, to count as a partial refusal.
const partialAfter = 400

// normalizeRefusal lower-cases text, straightens quotes, collapses spaces
// and drops leading markup, so phrases compare simply.
func normalizeRefusal(text string) string {
	text = strings.NewReplacer("\u2019", "'", "\u2018", "'", "\u02bc", "'", "\u201c", `"`, "\u201d", `"`).Replace(text)
	text = strings.Join(strings.Fields(strings.ToLower(text)), " ")
	return strings.TrimLeft(text, "*_#>\"'`- ")
}

// detectRefusal returns the score and reason of the refusal scorer.
func detectRefusal(a answer) (float64, string) {
	switch {
	case a.missing:
		return 1, "no answer to judge"
	case a.text == "" && a.toolCalls == 0 && a.finish == provider.FinishContentFilter:
		return 0, "refusal: an empty answer stopped by the content filter"
	case strings.TrimSpace(a.text) == "":
		return 1, "no refusal (no text)"
	}
	t := normalizeRefusal(a.text)
	rest := t
	if m := apology.FindStringIndex(t); m != nil {
		rest = t[m[1]:]
	}
	if loc := disclaimer.FindStringIndex(rest); loc != nil {
		return 0, "refusal: opens with " + quoteOf(rest[:loc[1]])
	}
	if loc := declining.FindStringIndex(rest); loc != nil && loc[0] == 0 {
		phrase := quoteOf(firstWords(rest[loc[0]:], 8))
		if n := utf8.RuneCountInString(t); n > partialAfter && hasBut(firstSentence(rest)) {
			return 0.5, "partial refusal: opens by declining (" + phrase + "), then answers"
		}
		return 0, "refusal: opens with " + phrase
	}
	if utf8.RuneCountInString(t) <= refusalMainContent {
		if loc := declining.FindStringIndex(t); loc != nil {
			return 0, "refusal: a short answer that declines (" + quoteOf(firstWords(t[loc[0]:], 8)) + ")"
		}
	}
	return 1, "no refusal"
}

func scoreRefusal(a answer) (float64, string) { return detectRefusal(a) }

func quoteOf(s string) string { return `"` + strings.TrimSpace(s) + `"` }

// firstWords returns up to n words of s.
func firstWords(s string, n int) string {
	f := strings.Fields(s)
	if len(f) > n {
		return strings.Join(f[:n], " ") + "…"
	}
	return strings.Join(f, " ")
}

// firstSentence returns s up to its first full stop, question or
// exclamation mark, or line break.
func firstSentence(s string) string {
	if i := strings.IndexAny(s, ".!?\n"); i >= 0 {
		return s[:i]
	}
	return s
}

func hasBut(s string) bool {
	return strings.Contains(s, " but ") || strings.Contains(s, ", but") || strings.Contains(s, "however")
}
