package reports

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lab-chaos/lab/checker"
	"github.com/lab-chaos/lab/history"
)

// lockRun is a short lock run whose account has two holders with live
// leases on one lock and four holds explained by a lease that may have
// expired (of which the report tells three).
func lockRun() *Run {
	var evs []history.Event
	for i := int64(0); i < 6; i++ {
		call := i * 500 * ms
		evs = append(evs, opEvents(i%2, "n1", "acquire", "lab-lock/0", history.Value(`"v3lock"`), history.IntValue(10+i), call, call+20*ms, history.OK, "")...)
		evs = append(evs, opEvents(i%2, "n1", "release", "lab-lock/0", history.IntValue(10+i), history.IntValue(10+i), call+200*ms, call+220*ms, history.OK, "")...)
	}
	lim := func(s string) checker.Anomaly {
		return checker.Anomaly{Kind: "lease-expired", Key: "lab-lock/0", Summary: s}
	}
	return &Run{Scenario: "etcd-lock", Nodes: []string{"n1", "n2", "n3"}, Events: evs, Verdict: Invalid,
		Files: []string{"history.html"},
		Anomalies: []Anomaly{{Kind: "two-holders", Key: "lab-lock/0", Time: 1000 * ms,
			Summary: "lock lab-lock/0 had two holders at once"}},
		Lock: &checker.LockReport{Locks: 2, Holds: 57, Leases: 9, LeasesRecorded: true, TwoHolders: 1, LeaseExpired: 4, TokenOrder: 0,
			ByLock: []checker.LockStat{
				{Name: "lab-lock/0", Holds: 31, MaxToken: 4242, TwoHolders: 1, LeaseExpired: 4},
				{Name: "lab-lock/1", Holds: 26},
			},
			LeaseLimit: []checker.Anomaly{lim("first <b>limit</b> story"), lim("second limit story"), lim("third limit story"), lim("fourth limit story")},
		}}
}

// leaseRun is a short lease run whose account has lapsed leases whose
// keys went, and one key that vanished while its lease was alive.
func leaseRun() *Run {
	var evs []history.Event
	for i := int64(0); i < 4; i++ {
		call := i * 500 * ms
		evs = append(evs, opEvents(i, "n2", "grant", "lab-lease/"+string(rune('0'+i)), history.IntValue(4), history.Value(`[7,4]`), call, call+10*ms, history.OK, "")...)
	}
	return &Run{Scenario: "etcd-lease", Nodes: []string{"n1", "n2", "n3"}, Events: evs, Verdict: Invalid,
		Files: []string{"history.html"},
		Anomalies: []Anomaly{{Kind: "vanished", Key: "lab-lease/1", Time: 1200 * ms,
			Summary: "key lab-lease/1 vanished while its lease was alive"}},
		Lease: &checker.LeaseReport{Granted: 17, GrantsUnknown: 2, GrantsFailed: 3, Attached: 16, Kept: 11, Lapsed: 5, Released: 14,
			Expired: 13, Unknown: 2, Vanished: 1, Lost: 0, NotExpired: 0, Returned: 0, Unexpected: 0, Reads: 812, ReadsAbsent: 97,
			Margin: checker.LeaseMargin}}
}

func renderBoth(t *testing.T, run *Run) (md, html string) {
	t.Helper()
	v := newView(run)
	b, err := renderHTML(v, nil)
	if err != nil {
		t.Fatal(err)
	}
	return string(renderMarkdown(v, nil)), string(b)
}

func wantAll(t *testing.T, what, doc string, want []string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(doc, w) {
			t.Errorf("%s does not contain %q", what, w)
		}
	}
}

func wantNone(t *testing.T, what, doc string, bad []string) {
	t.Helper()
	for _, b := range bad {
		if strings.Contains(doc, b) {
			t.Errorf("%s contains %q", what, b)
		}
	}
}

func TestLockAccount(t *testing.T) {
	md, html := renderBoth(t, lockRun())
	wantAll(t, "report.md", md, []string{
		"### Lock account\n\n| | count |\n|---|---:|\n",
		"| locks | 2 |", "| holds acquired | 57 |", "| client leases recorded | 9 |",
		"| two holders with both leases alive (a bug) | 1 |",
		"| a holder whose lease may have expired (the known limit of lease locks) | 4 |",
		"| fencing tokens out of order (a bug) | 0 |",
		"| Lock | Holds | Highest token | Two holders, leases alive | Lease may have expired | Tokens out of order |",
		"| lab-lock/0 | 31 | 4242 | 1 | 4 | 0 |", "| lab-lock/1 | 26 | – | 0 | 0 | 0 |",
		lockNote,
		"Holds where a lease may have expired, the first 3 of 4:",
		"- first &lt;b&gt;limit&lt;/b&gt; story\n- second limit story\n- third limit story\n",
		"1 more is counted above; results.json tells the first 4.",
	})
	wantNone(t, "report.md", md, []string{"fourth limit story", "Lease account", "<b>"})
	if i, j := strings.Index(md, "### Lock account"), strings.Index(md, "### 1. "); i < 0 || j < 0 || i > j {
		t.Errorf("the lock account is not before the first anomaly in report.md")
	}
	// A lock history's history.html is porcupine's drawing.
	wantAll(t, "report.md", md, []string{"(porcupine's visualization)"})

	wantAll(t, "report.html", html, []string{
		"<h3>Lock account</h3>",
		`<tr><td>two holders with both leases alive (a bug)</td><td class="n">1</td></tr>`,
		`<tr><td>a holder whose lease may have expired (the known limit of lease locks)</td><td class="n">4</td></tr>`,
		`<tr><td>holds acquired</td><td class="n">57</td></tr>`,
		`<tr><td>lab-lock/0</td><td class="n">31</td><td class="n">4242</td><td class="n">1</td><td class="n">4</td><td class="n">0</td></tr>`,
		"Two holders with both leases alive: a process acquired the lock while another held it",
		"<p>Holds where a lease may have expired, the first 3 of 4:</p>",
		"<li>first &lt;b&gt;limit&lt;/b&gt; story</li><li>second limit story</li><li>third limit story</li>",
		"<p>1 more is counted above; results.json tells the first 4.</p>",
	})
	wantNone(t, "report.html", html, []string{"fourth limit story", "Lease account", "<b>limit"})
}

// TestLockAccountWithoutLeases: a history of locks without leases says so,
// and with no lease-limit story tells none.
func TestLockAccountWithoutLeases(t *testing.T) {
	run := lockRun()
	run.Lock = &checker.LockReport{Locks: 1, Holds: 6, ByLock: []checker.LockStat{{Name: "lab-lock/0", Holds: 6, MaxToken: 15}}}
	md, html := renderBoth(t, run)
	wantAll(t, "report.md", md, []string{"| client leases recorded (none: each hold is taken to last until its release) | 0 |",
		"| lab-lock/0 | 6 | 15 | 0 | 0 | 0 |", lockNote})
	wantNone(t, "report.md", md, []string{"Holds where a lease may have expired", "counted above"})
	wantNone(t, "report.html", html, []string{"Holds where a lease may have expired", "counted above"})
}

func TestLeaseAccount(t *testing.T) {
	md, html := renderBoth(t, leaseRun())
	wantAll(t, "report.md", md, []string{
		"### Lease account\n\n| | count |\n|---|---:|\n",
		"| granted | 17 |", "| grants with an unknown outcome | 2 |", "| grants that failed (no lease) | 3 |",
		"| with a key attached (its put known written) | 16 |",
		"| kept alive throughout | 11 |", "| lapsed (not kept alive: the key may go) | 5 |",
		"| released by their owner | 14 |",
		"| gone as expected (key seen gone after the last renewal) | 13 |",
		"| not seen gone (no later read found the key gone: not judged) | 2 |",
		"| vanished while the lease was certainly alive (anomaly) | 1 |",
		"| lost (a keepalive told the lease was not found while it was certainly alive; anomaly) | 0 |",
		"| not expired (key still read after the lease must have expired; anomaly) | 0 |",
		"| returned (key read again after it was seen gone; anomaly) | 0 |",
		"| unexpected reads (a value never put, or whose put failed; anomaly) | 0 |",
		"| reads | 812 |", "| reads that found no key | 97 |",
		"Kept alive throughout: from its grant to its release, each TTL window of the lease was renewed by a keepalive the system answered",
		"a lapsed lease whose key went is counted as lapsed and gone as expected, not as an anomaly",
		"a margin of 3s",
	})
	wantNone(t, "report.md", md, []string{"Lock account"})
	// A lease history's history.html is its account, not porcupine's drawing.
	wantNone(t, "report.md", md, []string{"porcupine"})

	wantAll(t, "report.html", html, []string{
		"<h3>Lease account</h3>",
		`<tr><td>kept alive throughout</td><td class="n">11</td></tr>`,
		`<tr><td>lapsed (not kept alive: the key may go)</td><td class="n">5</td></tr>`,
		`<tr><td>vanished while the lease was certainly alive (anomaly)</td><td class="n">1</td></tr>`,
		`<tr><td>reads that found no key</td><td class="n">97</td></tr>`,
		`<p class="note">Kept alive throughout: from its grant to its release`,
	})
	wantNone(t, "report.html", html, []string{"Lock account", "porcupine"})
}

// TestLeaseNoteMargin: the note gives the account's margin.
func TestLeaseNoteMargin(t *testing.T) {
	run := leaseRun()
	run.Lease.Margin = 5 * time.Second
	if n := newView(run).LeaseNote(); !strings.Contains(n, "a margin of 5s") {
		t.Errorf("lease note = %q, want the margin of 5s", n)
	}
}

// TestNoLockOrLeaseAccount: a register run's report has neither account.
func TestNoLockOrLeaseAccount(t *testing.T) {
	md, html := renderBoth(t, syntheticRun())
	for _, bad := range []string{"Lock account", "Lease account", lockNote[:40], "Kept alive throughout"} {
		if strings.Contains(md, bad) {
			t.Errorf("a register run's report.md contains %q", bad)
		}
		if strings.Contains(html, bad) {
			t.Errorf("a register run's report.html contains %q", bad)
		}
	}
}

// TestSetAccount: a set run's report has the set account in both formats
// and names its lost elements, at most maxSetNames of them.
func TestSetAccount(t *testing.T) {
	var lost []string
	for i := 0; i < 60; i++ {
		lost = append(lost, strconv.Itoa(300+i))
	}
	run := &Run{Scenario: "redis-sentinel-partition", Nodes: []string{"n1", "n2"}, Verdict: Invalid,
		Set: &checker.SetReport{Attempted: 2433, Acknowledged: 2430, Stable: 1556, Lost: lost, Stale: []string{"7", "8"}}}
	md, html := renderBoth(t, run)
	wantAll(t, "report.md", md, []string{
		"### Set account\n\n| | elements |\n|---|---:|\n",
		"| attempted (adds that did not fail) | 2433 |", "| acknowledged | 2430 |", "| lost | 60 |", "| stale (missing, then present again) | 2 |",
		"Lost (60): 300, 301, ", ", 349, and 10 more (all in results.json).",
	})
	wantNone(t, "report.md", md, []string{"350,", "Lock account", "Queue account"})
	wantAll(t, "report.html", html, []string{
		"<h3>Set account</h3>", `<tr><th></th><th>elements</th></tr>`,
		`<tr><td>lost</td><td class="n">60</td></tr>`, "Lost (60): 300, 301,",
	})
	// The other accounts still render through the shared table.
	_, lockHTML := renderBoth(t, lockRun())
	wantAll(t, "a lock report.html", lockHTML, []string{"<h3>Lock account</h3>", `<tr><th></th><th>count</th></tr>`})
	if _, html := renderBoth(t, syntheticRun()); strings.Contains(html, "Set account") {
		t.Error("a register run's report has a set account")
	}
}
