package chorus_test

import (
	"testing"

	"github.com/chorusgw/chorus"
)

func TestValidProvider(t *testing.T) {
	for _, tt := range []struct {
		name string
		kind string
		want bool
	}{
		{"OpenAI", chorus.ProviderOpenAI, true},
		{"Azure", chorus.ProviderAzure, true},
		{"Anthropic", chorus.ProviderAnthropic, true},
		{"Gemini", chorus.ProviderGemini, true},
		{"Simulator", chorus.ProviderSimulator, true},
		{"ErrEmpty", "", false},
		{"ErrUnknown", "bedrock", false},
		{"ErrCase", "OpenAI", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := chorus.ValidProvider(tt.kind); got != tt.want {
				t.Errorf("ValidProvider(%q) = %v, want %v", tt.kind, got, tt.want)
			}
		})
	}
}

func TestProviderKinds(t *testing.T) {
	t.Run("AllValid", func(t *testing.T) {
		for _, k := range chorus.ProviderKinds() {
			if !chorus.ValidProvider(k) {
				t.Errorf("ProviderKinds lists %q, which ValidProvider refuses", k)
			}
		}
	})
	t.Run("FreshCopy", func(t *testing.T) {
		chorus.ProviderKinds()[0] = "changed"
		if got, want := chorus.ProviderKinds()[0], chorus.ProviderOpenAI; got != want {
			t.Errorf("after changing a returned slice, ProviderKinds()[0] = %q, want %q", got, want)
		}
	})
}
