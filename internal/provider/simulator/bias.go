package simulator

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"regexp"
	"strconv"
	"strings"

	"github.com/chorusgw/chorus/internal/provider"
)

// The judging persona: with the bias setting, the simulator answers the
// way a model asked to judge people does — a decision when the prompt asks
// for one ("yes or no", "approve or deny"), a score when it names a scale
// ("from 1 to 10"), else a sentence with sentiment — and it is biased as
// the setting says: each term of the setting found in the prompt shifts
// the answer by its weight. It exists to prove that bias tests catch bias
// (internal/bias).

// Judging persona rates: an unbiased answer is favourable with
// probability favourBase; a prompt with total weight w (clamped to
// [-1, 1]) is favourable with probability favourBase·(1−w) and, when w is
// positive, refused with probability w·refuseShare.
const (
	favourBase  = 0.8
	refuseShare = 1.0 / 3
)

// decisionPairs are the decisions the persona recognises, favourable first.
var decisionPairs = [][2]string{{"yes", "no"}, {"approve", "deny"}, {"accept", "reject"}, {"hire", "reject"}}

// scale finds "1 to 10", "1-5" or "1 (routine) to 5" in a prompt.
var scale = regexp.MustCompile(`\b(\d{1,2})\s*(?:\([^)]{0,40}\)\s*)?(?:to|-|–)\s*(\d{1,3})\b`)

// parseBias reads the bias setting: a map of term to weight in [-1, 1].
func parseBias(v any) (map[string]float64, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("simulator setting bias: want a map of term to weight, got %T", v)
	}
	out := make(map[string]float64, len(m))
	for term, w := range m {
		var f float64
		switch x := w.(type) {
		case float64:
			f = x
		case int:
			f = float64(x)
		case int64:
			f = float64(x)
		case json.Number:
			var err error
			if f, err = x.Float64(); err != nil {
				return nil, fmt.Errorf("simulator setting bias.%s: want a number, got %q", term, x)
			}
		default:
			return nil, fmt.Errorf("simulator setting bias.%s: want a number, got %T", term, w)
		}
		if f < -1 || f > 1 || strings.TrimSpace(term) == "" {
			return nil, fmt.Errorf("simulator setting bias.%s: want a non-empty term and a weight between -1 and 1, got %g", term, f)
		}
		out[strings.ToLower(term)] = f
	}
	return out, nil
}

// weight is the total bias weight of the terms prompt contains, clamped.
func (s *Settings) weight(prompt string) float64 {
	p := strings.ToLower(prompt)
	var w float64
	for term, f := range s.Bias {
		if strings.Contains(p, term) {
			w += f
		}
	}
	return max(-1, min(1, w))
}

// judgingWords answers req as the judging persona. The draw depends on the
// settings' seed, the prompt and the request's seed, not on the order of
// calls: a bias run's repetitions (which differ in seed) sample, and a
// run repeated gives the same answers.
func (c *Client) judgingWords(req *provider.ChatRequest) []string {
	prompt := lastUserText(req)
	h := fnv.New64a()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], c.s.Seed)
	h.Write(b[:])
	if req.Seed != nil {
		binary.LittleEndian.PutUint64(b[:], uint64(*req.Seed)) // #nosec G115 -- hash input: the seed's bits, not its value
		h.Write(b[:])
	}
	h.Write([]byte(prompt))
	r := rng(h.Sum64())
	w := c.s.weight(prompt)
	if w > 0 && r.float() < w*refuseShare {
		return strings.Fields("I'm sorry, but I can't help with that request.")
	}
	favourable := r.float() < max(0, min(1, favourBase*(1-w)))
	return strings.Fields(judgement(strings.ToLower(prompt), favourable, &r))
}

// judgement writes the answer's text.
func judgement(prompt string, favourable bool, r *rng) string {
	tail := "The profile looks strong, capable and reliable."
	if !favourable {
		tail = "The profile raises concerns and seems risky."
	}
	for _, d := range decisionPairs {
		if strings.Contains(prompt, d[0]+" or "+d[1]) {
			word := d[1]
			if favourable {
				word = d[0]
			}
			return strings.ToUpper(word[:1]) + word[1:] + ". " + tail
		}
	}
	if m := scale.FindStringSubmatch(prompt); m != nil {
		lo, _ := strconv.Atoi(m[1])
		hi, _ := strconv.Atoi(m[2])
		if lo < hi {
			span := float64(hi - lo)
			at := 0.1 + 0.35*r.float()
			if favourable {
				at = 0.7 + 0.3*r.float()
			}
			return fmt.Sprintf("%d/%d. %s", lo+int(at*span+0.5), hi, tail)
		}
	}
	if favourable {
		return "They seem kind, capable and reliable; a wonderful, trustworthy person."
	}
	return "They seem difficult and unreliable; a worrying, troubled person."
}
