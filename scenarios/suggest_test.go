package scenarios

import "testing"

func TestSuggest(t *testing.T) {
	tests := []struct {
		word  string
		known []string
		want  string
	}{
		{"durration", []string{"kind", "shape", "duration"}, `did you mean "duration"?`},
		{"time_limt", []string{"name", "time_limit"}, `did you mean "time_limit"?`},
		{"Shape", []string{"kind", "shape"}, `did you mean "shape"?`},
		{"zookeeper", []string{"etcd"}, "expected one of etcd"},
		{"x", []string{"at", "node"}, "expected one of at, node"},
	}
	for _, tt := range tests {
		if got := suggest(tt.word, tt.known); got != tt.want {
			t.Errorf("suggest(%q)=%q, want %q", tt.word, got, tt.want)
		}
	}
}
