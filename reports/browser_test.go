package reports

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lab-chaos/lab/internal/labtest"
	"github.com/lab-chaos/lab/logcheck"
)

// Markup and script from the system under test, through a value, an error
// and a log line. If any of it became an element, the dumped DOM would hold
// the element (and the script would have run and retitled the page).
const (
	evilValue = `"<script>document.title='pwned-value'</script>"`
	evilError = `<img src=x onerror="document.title='pwned-error'"><b id="evil-error">x</b>`
	evilLog   = `panic: <script>document.title='pwned-log'</script><i id="evil-log">log</i>`
)

func evilRun() *Run {
	run := syntheticRun()
	run.Started = time.Date(2026, 11, 21, 6, 0, 0, 0, time.UTC)
	for i := range run.Events {
		e := &run.Events[i]
		if e.Process == 40 && e.Type == "invoke" {
			e.Value = []byte(evilValue)
		}
		if e.Error != "" {
			e.Error = evilError
		}
	}
	run.Anomalies[0].Summary = "stale read " + evilError
	run.Anomalies[0].Ops[0].Input = []byte(evilValue)
	run.Logs = []logcheck.Finding{{Node: "n2", Line: 7, Time: run.Started.Add(21 * time.Second), Kind: logcheck.Panic, Text: evilLog}}
	run.LogsChecked = true
	return run
}

// chromium runs the browser headless on a file and returns its stdout and
// stderr.
func chromium(t *testing.T, bin string, args ...string) (stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
		"--user-data-dir=" + t.TempDir(), "--no-first-run", "--disable-extensions"}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, errb.String())
	}
	return out.String(), errb.String()
}

// consoleProblems are the lines of chromium's log that show the page wrote
// to the console or threw: the report has no script, so any is a problem.
// Chromium logs console messages as "...:CONSOLE(n)] ..." or
// "INFO:CONSOLE:n] ...", whatever their level.
func consoleProblems(stderr string) []string {
	var out []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.Contains(l, ":CONSOLE") || strings.Contains(l, "Uncaught") {
			out = append(out, l)
		}
	}
	return out
}

// keep copies files out of the test's temporary directory (removed when
// the test ends) and says where, so that a failure can be looked at.
func keep(t *testing.T, files ...string) {
	t.Helper()
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("lab-report-browser-%d", time.Now().UnixNano()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Logf("could not keep the files: %v", err)
		return
	}
	for _, f := range files {
		if b, err := os.ReadFile(f); err == nil {
			os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o644)
		}
	}
	t.Logf("screenshot and report kept in %s", dir)
}

// TestConsoleCheckSeesErrors shows that the console scan catches a page
// that logs an error and throws, so that its silence on the report means
// something.
func TestConsoleCheckSeesErrors(t *testing.T) {
	bin := labtest.Chromium(t)
	page := filepath.Join(t.TempDir(), "bad.html")
	os.WriteFile(page, []byte(`<!DOCTYPE html><p>x</p><script>console.error("bad thing"); throw new Error("boom");</script>`), 0o644)
	_, stderr := chromium(t, bin, "--dump-dom", "file://"+page)
	if got := consoleProblems(stderr); len(got) < 2 {
		t.Errorf("console scan found %q in a page that logs and throws, want both; stderr:\n%s", got, stderr)
	}
}

func TestReportInBrowser(t *testing.T) {
	bin := labtest.Chromium(t)
	dir := t.TempDir()
	if err := Write(dir, evilRun()); err != nil {
		t.Fatal(err)
	}
	page := filepath.Join(dir, HTMLFile)
	shot := filepath.Join(dir, "screenshot.png")
	defer func() {
		if t.Failed() {
			keep(t, shot, page)
		}
	}()

	dom, stderr := chromium(t, bin, "--dump-dom", "--virtual-time-budget=2000", "file://"+page)
	if p := consoleProblems(stderr); len(p) > 0 {
		t.Errorf("console output while loading the report:\n%s", strings.Join(p, "\n"))
	}
	for _, id := range []string{"summary", "impact", "timeline", "anomalies", "factors", "recovery", "held", "followups", "reproduce", "files"} {
		if !strings.Contains(dom, `<h2 id="`+id+`">`) {
			t.Errorf("rendered DOM has no section %q", id)
		}
	}
	for _, want := range []string{
		"<title>partition: INVALID</title>",
		"&lt;script&gt;document.title='pwned-value'&lt;/script&gt;",
		"&lt;img src=x onerror=\"document.title='pwned-error'\"&gt;&lt;b id=\"evil-error\"&gt;x&lt;/b&gt;",
		"panic: &lt;script&gt;document.title='pwned-log'&lt;/script&gt;&lt;i id=\"evil-log\"&gt;log&lt;/i&gt;",
		`id="fig-latency"`, `id="fig-rate"`, `id="fig-timeline"`,
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("rendered DOM does not show %q as text", want)
		}
	}
	for _, bad := range []string{"<script", "pwned-value</title>", "pwned-error</title>", "pwned-log</title>", `id="evil-error"><`, `<b id="evil-error"`, `<i id="evil-log"`, `<img src="x"`} {
		if strings.Contains(dom, bad) {
			t.Errorf("rendered DOM holds injected markup %q", bad)
		}
	}

	_, stderr = chromium(t, bin, "--screenshot="+shot, "--window-size=1300,6000", "--hide-scrollbars", "file://"+page)
	if p := consoleProblems(stderr); len(p) > 0 {
		t.Errorf("console output while taking the screenshot:\n%s", strings.Join(p, "\n"))
	}
	b, err := os.ReadFile(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	if n := inked(img); n < 5000 {
		t.Errorf("screenshot has %d non-white pixels: the page looks blank", n)
	}
}

// inked counts the pixels that are not near white.
func inked(img image.Image) int {
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl, _ := img.At(x, y).RGBA()
			if r < 0xe000 || g < 0xe000 || bl < 0xe000 {
				n++
			}
		}
	}
	return n
}
