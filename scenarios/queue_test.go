package scenarios_test

import (
	"strings"
	"testing"
	"time"

	"github.com/lab-chaos/lab/systems/nats"
	"github.com/lab-chaos/lab/workloads"
)

// TestNATSAndQueueFields: the NATS system and the queue workload decode
// their own fields, and refuse bad ones with file, line and field.
func TestNATSAndQueueFields(t *testing.T) {
	good := `name: q
seed: 1
system: {name: nats, nodes: 3, sync_interval: 250ms}
workload: {name: queue, rate: 10, concurrency: 3, consumers: 1, batch: 5, drain_deadline: 30s, exactly_once: true}
time_limit: 10s
faults: [{kind: kill, target: one, at: 2s, duration: 2s}]
`
	s, err := parse([]byte(good), "q.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := s.System.Params.(nats.Params); p.SyncInterval != "250ms" {
		t.Errorf("system params = %#v, want sync_interval 250ms", s.System.Params)
	}
	q, _ := s.Workload.Params.(workloads.Queue)
	if q.Consumers == nil || *q.Consumers != 1 || q.Batch != 5 || time.Duration(q.DrainDeadline) != 30*time.Second || !q.ExactlyOnce {
		t.Errorf("queue params = %#v", s.Workload.Params)
	}

	for _, tc := range []struct{ sub, with, want string }{
		{"sync_interval: 250ms", "sync_interval: sometimes", "q.yaml:3"},
		{"batch: 5", "batch: 0", "q.yaml:4"},
		{"drain_deadline: 30s", "drain_deadline: soon", "q.yaml:4"},
		{"exactly_once: true", "exactly_twice: true", "exactly_twice"},
	} {
		bad := strings.Replace(good, tc.sub, tc.with, 1)
		_, err := parse([]byte(bad), "q.yaml")
		if err == nil {
			t.Errorf("%s: loaded without error", tc.with)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %q does not name %q", tc.with, err, tc.want)
		}
	}
}
