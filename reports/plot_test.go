package reports

import "testing"

func TestTickStep(t *testing.T) {
	for _, tc := range []struct {
		span, want float64
	}{
		{30, 2}, {60, 5}, {1, 0.1}, {150, 10}, {0, 0}, {7, 0.5},
	} {
		if got := tickStep(tc.span); got != tc.want {
			t.Errorf("tickStep(%v) = %v, want %v", tc.span, got, tc.want)
		}
	}
}
