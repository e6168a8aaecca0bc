package gobuild

import (
	"slices"
	"testing"
)

func TestCompareVersions(t *testing.T) {
	for _, tt := range []struct{ in, want []string }{
		{ // etcd's releases: 3.5.9 before 3.5.10, pre-releases first
			[]string{"3.5.10", "3.6.0", "3.5.9", "3.7.0-rc.0", "3.7.0", "3.5.0-alpha.0", "3.5.0"},
			[]string{"3.5.0-alpha.0", "3.5.0", "3.5.9", "3.5.10", "3.6.0", "3.7.0-rc.0", "3.7.0"},
		},
		{ // nats-server's: 2.9 before 2.10
			[]string{"2.10.22", "2.9.0", "2.10.7", "2.10.23", "2.11.0-RC.1", "2.11.0", "2.2.0"},
			[]string{"2.2.0", "2.9.0", "2.10.7", "2.10.22", "2.10.23", "2.11.0-RC.1", "2.11.0"},
		},
	} {
		vs := slices.Clone(tt.in)
		slices.SortFunc(vs, CompareVersions)
		if !slices.Equal(vs, tt.want) {
			t.Errorf("sorted %v, want %v", vs, tt.want)
		}
	}
	for _, tt := range []struct {
		a, b string
		sign int
	}{
		{"3.5.5", "3.5.5", 0},
		{"3.5.0-rc.1", "3.5.0-rc.1", 0},
		{"3.5.0-rc.0", "3.5.0-rc.1", -1},
		{"3.5", "3.5.0", -1},
		{"10.0.0", "9.9.9", 1},
	} {
		got := CompareVersions(tt.a, tt.b)
		if sign(got) != tt.sign || sign(CompareVersions(tt.b, tt.a)) != -tt.sign {
			t.Errorf("CompareVersions(%q, %q) = %d, want sign %d (and the opposite swapped)", tt.a, tt.b, got, tt.sign)
		}
	}
}

func sign(x int) int {
	switch {
	case x < 0:
		return -1
	case x > 0:
		return 1
	}
	return 0
}

func TestNearbyVersions(t *testing.T) {
	served := []string{"2.9.0", "2.10.7", "2.10.22", "2.10.23", "2.11.0", "2.12.1", "2.15.3"}
	for _, tt := range []struct {
		v    string
		want []string
	}{
		// The releases of the same minor release.
		{"2.10.99", []string{"2.10.7", "2.10.22", "2.10.23"}},
		// Else three either side of where it would sort.
		{"2.13.0", []string{"2.10.23", "2.11.0", "2.12.1", "2.15.3"}},
		{"2.0.0", []string{"2.9.0", "2.10.7", "2.10.22"}},
		{"9.9.9", []string{"2.11.0", "2.12.1", "2.15.3"}},
		{"2.10", []string{"2.10.7", "2.10.22", "2.10.23"}},
	} {
		if got := NearbyVersions(tt.v, served); !slices.Equal(got, tt.want) {
			t.Errorf("NearbyVersions(%s) = %v, want %v", tt.v, got, tt.want)
		}
	}
	// Of a minor release with many, the newest eight.
	many := []string{"3.6.0", "3.6.1", "3.6.2", "3.6.3", "3.6.4", "3.6.5", "3.6.6", "3.6.7", "3.6.8", "3.6.9", "3.7.0"}
	want := []string{"3.6.2", "3.6.3", "3.6.4", "3.6.5", "3.6.6", "3.6.7", "3.6.8", "3.6.9"}
	if got := NearbyVersions("3.6.99", many); !slices.Equal(got, want) {
		t.Errorf("NearbyVersions(3.6.99) = %v, want %v", got, want)
	}
	if got := NearbyVersions("3.6.99", nil); len(got) != 0 {
		t.Errorf("NearbyVersions of none = %v, want none", got)
	}
}
