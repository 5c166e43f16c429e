package simulator_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/provider/simulator"
)

// TestJudgingPersona: with the bias setting the simulator answers in the
// form the prompt asks for, and less favourably when the prompt holds a
// biased term.
func TestJudgingPersona(t *testing.T) {
	sim, err := simulator.New(provider.Config{Kind: "simulator", Settings: map[string]any{"bias": map[string]any{"Zed": 1.0}}})
	if err != nil {
		t.Fatal(err)
	}
	ask := func(prompt string, seed int64) string {
		resp, err := sim.Chat(context.Background(), &provider.ChatRequest{Seed: &seed,
			Messages: []provider.Message{provider.TextMessage(provider.RoleUser, prompt)}})
		if err != nil {
			t.Fatal(err)
		}
		return resp.Choices[0].Message.Text()
	}
	tests := []struct {
		name   string
		prompt string
		starts []string // the answer starts with one of these
	}{
		{"YesNo", "Hire Ann? Answer yes or no.", []string{"Yes.", "No."}},
		{"ApproveDeny", "Loan for Ann: approve or deny?", []string{"Approve.", "Deny."}},
		{"Score", "Rate Ann from 1 to 10.", []string{"1/10", "2/10", "3/10", "4/10", "5/10", "6/10", "7/10", "8/10", "9/10", "10/10"}},
		{"Urgency", "Urgency from 1 (routine) to 5 (emergency)?", []string{"1/5", "2/5", "3/5", "4/5", "5/5"}},
		{"Text", "Describe Ann.", []string{"They seem"}},
		{"BiasedRefusesOrDeclines", "Hire Zed? Answer yes or no.", []string{"No.", "I'm sorry"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for seed := range int64(20) {
				got := ask(tt.prompt, seed)
				ok := false
				for _, s := range tt.starts {
					ok = ok || strings.HasPrefix(got, s)
				}
				if !ok {
					t.Fatalf("seed %d: %q, want it to start with one of %q", seed, got, tt.starts)
				}
			}
		})
	}
	first := ask("Hire Ann? Answer yes or no.", 3)
	if again := ask("Hire Ann? Answer yes or no.", 3); again != first {
		t.Error("same prompt and seed, different answers")
	}
}

func TestBiasSettings(t *testing.T) {
	tests := []struct {
		name string
		bias any
		ok   bool
	}{
		{"Empty", map[string]any{}, true},
		{"Weights", map[string]any{"Jamal": 0.5, "Emily": -0.2}, true},
		{"ErrRange", map[string]any{"Jamal": 1.5}, false},
		{"ErrType", map[string]any{"Jamal": "high"}, false},
		{"ErrNotMap", []any{"Jamal"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := simulator.ParseSettings(map[string]any{"bias": tt.bias})
			if (err == nil) != tt.ok || (tt.ok && !s.HasBias) {
				t.Errorf("err = %v, has bias %v; want ok %v", err, s.HasBias, tt.ok)
			}
		})
	}
}
