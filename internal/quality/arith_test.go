package quality

import "testing"

func TestCheckArithmetic(t *testing.T) {
	for _, tt := range []struct {
		name       string
		text       string
		steps, bad int
		last       string
	}{
		{"Right", "She has 16 - 3 = 13 eggs, then 13 - 4 = 9, sells for 9 * $2 = $<<9*2=18>>18.", 3, 0, "18"},
		{"Wrong", "So 12 * 4 = 46 and 46 + 2 = 48.", 2, 1, "48"},
		{"Precedence", "2 + 3 * 4 = 14", 1, 0, "14"},
		{"Rounded", "10 / 3 = 3.33", 1, 0, "3.33"},
		{"Thousands", "1,000 + 250 = 1,250", 1, 0, "1250"},
		{"Times", "5 x 6 = 30 and 7 × 2 = 14", 2, 0, "14"},
		{"DivideByZero", "5 / 0 = 1", 0, 0, ""},
		{"None", "The answer is 7.", 0, 0, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := checkArithmetic(tt.text)
			if got.steps != tt.steps || got.wrong != tt.bad || got.last != tt.last {
				t.Fatalf("got %+v, want steps %d wrong %d last %q", got, tt.steps, tt.bad, tt.last)
			}
		})
	}
}

func TestFinalNumber(t *testing.T) {
	for _, tt := range []struct{ text, n, how string }{
		{"so 9 eggs\n#### 18", "18", "hashes"},
		{`the total is \boxed{42}`, "42", "boxed"},
		{"The answer is 1,250 dollars.", "1250", "stated"},
		{"She pays 3 + 4 = 7 dollars.", "7", "lastline"},
		{"It costs 12.\nThat is a lot of money.", "12", "earlier"},
		{"I cannot tell.", "", ""},
		{"It fell to -5 degrees", "-5", "lastline"},
	} {
		n, how := finalNumber(tt.text)
		if n != tt.n || how != tt.how {
			t.Errorf("finalNumber(%q) = %q, %q; want %q, %q", tt.text, n, how, tt.n, tt.how)
		}
	}
}
