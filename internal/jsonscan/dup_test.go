package jsonscan

import "testing"

func TestDuplicate(t *testing.T) {
	for _, tc := range []struct {
		name, v, want string
		err           bool
	}{
		{name: "None", v: `{"a":1,"b":{"a":2},"c":[{"a":1},{"a":2}]}`},
		{name: "Top", v: `{"a":1,"b":2,"a":3}`, want: "a"},
		{name: "Escaped", v: `{"name":1,"n\u0061me":2}`, want: "name"},
		{name: "Nested", v: `{"config":{"x":1,"x":2}}`, want: "config.x"},
		{name: "InArray", v: `{"targets":[{"m":1},{"m":1,"m":2}]}`, want: "targets[1].m"},
		{name: "TopArray", v: `[{"k":1,"k":1}]`, want: "[0].k"},
		{name: "CaseDiffers", v: `{"a":1,"A":2}`},
		{name: "Scalar", v: `"x"`},
		{name: "ErrInvalid", v: `{"a":1} x`, err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Duplicate([]byte(tc.v))
			if got != tc.want || (err != nil) != tc.err {
				t.Fatalf("Duplicate(%s) = %q, %v; want %q, error %v", tc.v, got, err, tc.want, tc.err)
			}
		})
	}
}
