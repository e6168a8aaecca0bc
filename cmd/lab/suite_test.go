package main

import (
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lab-chaos/lab/checker"
	"github.com/lab-chaos/lab/internal/labtest"
	"github.com/lab-chaos/lab/reports"
	"github.com/lab-chaos/lab/runner"
)

func TestSuiteWorstCode(t *testing.T) {
	tests := []struct {
		name  string
		codes []int
		want  int
	}{
		{"none", nil, ExitValid},
		{"all valid", []int{0, 0}, ExitValid},
		{"unknown beats valid", []int{0, 2}, ExitUnknown},
		{"invalid beats unknown", []int{2, 1, 0}, ExitInvalid},
		{"bad input beats invalid", []int{1, 254}, ExitBadInput},
		{"lab failure beats all", []int{254, 255, 1, 2}, ExitLabFailure},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rs []suiteResult
			for _, c := range tt.codes {
				rs = append(rs, suiteResult{Code: c})
			}
			if got := worstCode(rs); got != tt.want {
				t.Errorf("worstCode(%v)=%d, want %d", tt.codes, got, tt.want)
			}
		})
	}
}

func TestSuiteScenarioFiles(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"b.yaml", "a.yml", "notes.txt"} {
		os.WriteFile(filepath.Join(dir, f), nil, 0o644)
	}
	got, err := scenarioFiles([]string{dir, filepath.Join(dir, "notes.txt")})
	want := []string{filepath.Join(dir, "a.yml"), filepath.Join(dir, "b.yaml"), filepath.Join(dir, "notes.txt")}
	if err != nil || strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("scenarioFiles=%v, %v; want %v", got, err, want)
	}
	if _, err := scenarioFiles([]string{t.TempDir()}); err == nil {
		t.Error("an empty folder is no error")
	}
}

// junitDoc is what a JUnit consumer reads, parsed independently of the
// types that wrote it.
type junitDoc struct {
	XMLName  xml.Name `xml:"testsuites"`
	Tests    int      `xml:"tests,attr"`
	Failures int      `xml:"failures,attr"`
	Errors   int      `xml:"errors,attr"`
	Suites   []struct {
		Cases []struct {
			Name    string `xml:"name,attr"`
			Failure *struct {
				Message string `xml:"message,attr"`
				Text    string `xml:",chardata"`
			} `xml:"failure"`
			Error *struct {
				Message string `xml:"message,attr"`
			} `xml:"error"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

func readJUnit(t *testing.T, path string) junitDoc {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var d junitDoc
	if err := xml.Unmarshal(b, &d); err != nil {
		t.Fatalf("JUnit does not parse: %v\n%s", err, b)
	}
	return d
}

func TestJUnitEscapesAndCounts(t *testing.T) {
	evil := "read returned \"<x>\" & ]]> \x00\x1b[31m"
	rs := []suiteResult{
		{Name: "ok", File: "a.yaml", Code: ExitValid, Verdict: checker.Valid},
		{Name: "bad", File: "b.yaml", Code: ExitInvalid, Verdict: checker.Invalid,
			Out: runner.Outcome{Dir: "store/bad/1", Result: checker.Result{Anomalies: []checker.Anomaly{{Summary: evil}}}}},
		{Name: "broken", File: "c.yaml", Code: ExitBadInput, Err: errors.New("c.yaml:3: <oops>")},
	}
	path := filepath.Join(t.TempDir(), "out.xml")
	if err := writeJUnit(path, rs); err != nil {
		t.Fatal(err)
	}
	d := readJUnit(t, path)
	if d.Tests != 3 || d.Failures != 1 || d.Errors != 1 || len(d.Suites) != 1 || len(d.Suites[0].Cases) != 3 {
		t.Fatalf("JUnit = %+v, want 3 tests, 1 failure, 1 error", d)
	}
	cs := d.Suites[0].Cases
	if cs[0].Failure != nil || cs[0].Error != nil {
		t.Errorf("valid case has a failure or error")
	}
	if f := cs[1].Failure; f == nil || !strings.Contains(f.Text, `read returned "<x>" & ]]>`) || !strings.Contains(f.Text, "store/bad/1/report.html") {
		t.Errorf("failure = %+v, want the anomaly and the report path", f)
	}
	if e := cs[2].Error; e == nil || !strings.Contains(e.Message, "<oops>") {
		t.Errorf("error = %+v, want the load error", e)
	}
}

func TestSuiteBadScenarioIsErrorCase(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("name: x\nsystem: {name: etcd, nodes: 3}\ntime_limit: 10\n"), 0o644)
	out := filepath.Join(dir, "out.xml")
	store := filepath.Join(dir, "store")
	code, stdout, stderr := runLab(t, "suite", bad, "--junit", out, "--store", store)
	if code != ExitBadInput {
		t.Fatalf("exit %d, want %d\n%s\n%s", code, ExitBadInput, stdout, stderr)
	}
	if !strings.Contains(stdout, "BAD INPUT") {
		t.Errorf("summary lacks the outcome:\n%s", stdout)
	}
	d := readJUnit(t, out)
	if d.Tests != 1 || d.Errors != 1 || d.Suites[0].Cases[0].Error == nil {
		t.Errorf("JUnit = %+v, want one error case", d)
	}
	if code, _, _ := runLab(t, "suite", filepath.Join(dir, "missing.yaml")); code != ExitBadInput {
		t.Errorf("missing file: exit %d, want %d", code, ExitBadInput)
	}
}

func TestServeLoopbackOnly(t *testing.T) {
	for addr, ok := range map[string]bool{
		"127.0.0.1:8080": true, "localhost:0": true, "[::1]:8080": true,
		"0.0.0.0:8080": false, ":8080": false, "192.168.1.2:80": false, "example.com:80": false,
	} {
		if err := loopbackOnly(addr); (err == nil) != ok {
			t.Errorf("loopbackOnly(%q)=%v, want ok=%v", addr, err, ok)
		}
	}
	if code, _, _ := runLab(t, "serve", "--addr", "0.0.0.0:0", "--store", t.TempDir()); code != ExitBadInput {
		t.Errorf("serve on 0.0.0.0: exit %d, want %d", code, ExitBadInput)
	}
}

func TestServeStore(t *testing.T) {
	store := t.TempDir()
	run := filepath.Join(store, "sc", "20260101T000000")
	os.MkdirAll(run, 0o755)
	os.WriteFile(filepath.Join(run, "results.json"), []byte(`{"valid":"invalid","counts":{"ops":12},"anomalies":[{}],"run":{"scenario":"<sc>","seed":7,"started":"2026-01-01T00:00:00Z"}}`), 0o644)
	os.WriteFile(filepath.Join(run, reports.HTMLFile), []byte("<!DOCTYPE html><title>r</title>"), 0o644)
	srv := httptest.NewServer(storeHandler(store))
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	page := string(b)
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Errorf("GET / = %d, CSP %q", resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
	}
	for _, want := range []string{"&lt;sc&gt;", `href="sc/20260101T000000/report.html"`, "INVALID"} {
		if !strings.Contains(page, want) {
			t.Errorf("index lacks %q:\n%s", want, page)
		}
	}
	resp, err = http.Get(srv.URL + "/sc/20260101T000000/report.html")
	if err != nil || resp.StatusCode != 200 || resp.Header.Get("Content-Security-Policy") == "" {
		t.Errorf("report: %v %v", err, resp)
	}
	resp.Body.Close()
	resp, err = http.Post(srv.URL+"/", "text/plain", strings.NewReader("x"))
	if err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST = %v %v, want 405", err, resp)
	}
	resp.Body.Close()
}

// TestSuiteRealScenarios runs both shipped scenarios against real etcd
// clusters (about two minutes): the serializable-reads one finds stale
// reads, the linearizable one does not.
func TestSuiteRealScenarios(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two real clusters")
	}
	labtest.Docker(t)
	labtest.Root(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "out.xml")
	store := filepath.Join(dir, "store")
	code, stdout, stderr := runLab(t, "suite", "../../scenarios/partition.yaml", "../../scenarios/etcd-serializable-reads.yaml",
		"--junit", out, "--store", store)
	if code != ExitInvalid {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, ExitInvalid, stdout, stderr)
	}
	d := readJUnit(t, out)
	if d.Tests != 2 || d.Failures != 1 || d.Errors != 0 || len(d.Suites[0].Cases) != 2 {
		t.Fatalf("JUnit = %+v, want two testcases and one failure", d)
	}
	var failed int
	for _, c := range d.Suites[0].Cases {
		if c.Failure == nil {
			continue
		}
		failed++
		if !strings.Contains(c.Failure.Text, "stale read") || !strings.Contains(c.Failure.Text, "report.html") {
			t.Errorf("failure text lacks the anomaly or the report:\n%s", c.Failure.Text)
		}
	}
	if failed != 1 {
		t.Errorf("%d failures, want 1", failed)
	}
	index, err := os.ReadFile(filepath.Join(store, reports.IndexFile))
	if err != nil || strings.Count(string(index), "/report.html") != 2 {
		t.Errorf("index.html does not list both runs: %v", err)
	}
}
