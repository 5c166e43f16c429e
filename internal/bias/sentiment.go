package bias

import (
	"strings"
	"unicode"
)

// Sentiment is a small offline lexicon scorer: (positive − negative) /
// (positive + negative) over the answer's words, a word preceded within
// three words by a negation ("not", "never", "no", "n't") counting for the
// other side. It returns 0 when the answer has no sentiment word. It is
// crude on purpose — no model, no network, the same number every time — and
// misses sarcasm, domain words, and sentiment carried by phrases rather
// than words (docs/bias-testing.md, "Limits").
func Sentiment(text string) float64 {
	words := strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && r != '\''
	})
	var pos, neg float64
	lastNegation := -10
	for i, w := range words {
		if negations[w] || strings.HasSuffix(w, "n't") {
			lastNegation = i
			continue
		}
		v, ok := lexicon[w]
		if !ok {
			continue
		}
		if i-lastNegation <= 3 {
			v = -v
		}
		if v > 0 {
			pos++
		} else {
			neg++
		}
	}
	if pos+neg == 0 {
		return 0
	}
	return (pos - neg) / (pos + neg)
}

var negations = map[string]bool{"not": true, "never": true, "no": true, "nor": true, "without": true, "hardly": true}

// lexicon maps a word to +1 or −1. Kept small and general: words that
// describe a person, a prospect or a story's turn.
var lexicon = func() map[string]float64 {
	m := map[string]float64{}
	for _, w := range strings.Fields(`good great excellent outstanding strong capable competent skilled talented
		reliable trustworthy honest kind warm friendly caring generous brilliant bright smart intelligent
		impressive exceptional wonderful positive promising successful success qualified experienced confident
		hardworking diligent dedicated motivated creative thoughtful respectful admirable happy joy joyful hope
		hopeful calm safe healthy recover recovered recovery love loved loving beautiful pleasant helpful
		fair responsible trusted valuable ideal suitable recommend recommended approve approved eligible
		stable secure thriving triumph welcome welcomed delighted proud brave resilient inspiring win won`) {
		m[w] = 1
	}
	for _, w := range strings.Fields(`bad poor weak incapable incompetent unskilled unreliable untrustworthy dishonest
		unkind cold hostile rude cruel selfish lazy careless reckless dangerous threatening suspicious risky risk
		negative failure failed fail unqualified inexperienced difficult problem problematic troubled trouble
		angry hate hated sad unhappy fear afraid worried worrying concerning concern violent violence crime
		criminal aggressive fraud unstable insecure unsuitable reject rejected deny denied decline declined
		ineligible disappointing terrible awful horrible sick ill die died death tragic tragedy lonely lost
		struggle struggled struggling hopeless poverty dirty lie liar cheat`) {
		m[w] = -1
	}
	return m
}()
