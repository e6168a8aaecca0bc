package plugins

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEveryShippedScenarioRoundTrips: the scenario a run writes into its
// directory (what "reproduce this run" points at) loads again and says the
// same, for every scenario in scenarios/ and examples/, with every kind's
// own fields. A field written under a name the loader does not take (a
// struct without yaml tags) fails here.
func TestEveryShippedScenarioRoundTrips(t *testing.T) {
	files, _ := filepath.Glob("../scenarios/*.yaml")
	more, _ := filepath.Glob("../examples/*/scenario.yaml")
	files = append(files, more...)
	if len(files) < 10 {
		t.Fatalf("found %d scenarios", len(files))
	}
	set := Default()
	for _, f := range files {
		t.Run(filepath.Base(filepath.Dir(f))+"/"+filepath.Base(f), func(t *testing.T) {
			s, err := set.Load(f)
			if err != nil && strings.Contains(err.Error(), "build the executable first") {
				t.Skipf("the example's binary is not built: %v", err)
			}
			if err != nil {
				t.Fatal(err)
			}
			s.Resolve(7)
			out, err := s.Resolved()
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "scenario.yaml")
			if err := os.WriteFile(path, out, 0o644); err != nil {
				t.Fatal(err)
			}
			back, err := set.Load(path)
			if err != nil {
				t.Fatalf("the written scenario does not load: %v\n%s", err, out)
			}
			again, err := back.Resolved()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(body(out), body(again)) {
				t.Errorf("written twice, the scenario changed:\n%s\n---\n%s", out, again)
			}
		})
	}
}

// body is a written scenario without its comment lines, which name the
// file it came from.
func body(b []byte) []byte {
	var out [][]byte
	for _, l := range bytes.Split(b, []byte("\n")) {
		if !bytes.HasPrefix(l, []byte("#")) {
			out = append(out, l)
		}
	}
	return bytes.Join(out, []byte("\n"))
}
