package etcd

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/lab-chaos/lab/systems"
)

// Leader asks every node for its status and maps the leader's member ID to
// a node name. Nodes that do not answer within a second are passed over;
// answers that disagree (a cut-off node still believes in an old leader)
// are resolved in favour of the highest raft term.
func (*Etcd) Leader(ctx context.Context, peers []systems.Peer) (string, error) {
	names := map[uint64]string{}
	var leader, term uint64
	var errs []error
	for _, p := range peers {
		c, err := newClient(ctx, p.Addr)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		st, err := c.Status(sctx, endpoint(p.Addr))
		cancel()
		c.Close()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p.Name, err))
			continue
		}
		names[st.Header.MemberId] = p.Name
		if st.Leader != 0 && st.RaftTerm >= term {
			leader, term = st.Leader, st.RaftTerm
		}
	}
	if leader == 0 {
		return "", fmt.Errorf("no node knows a leader: %w", errors.Join(errs...))
	}
	name, ok := names[leader]
	if !ok {
		return "", fmt.Errorf("the leader (member %x) did not answer", leader)
	}
	return name, nil
}

// NodeTime reads the node's clock from the Date header of its HTTP
// endpoint: Go's HTTP server stamps every response with its own
// time.Now(), to the second.
func (*Etcd) NodeTime(ctx context.Context, node systems.Peer) (time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint(node.Addr)+"/version", nil)
	if err != nil {
		return time.Time{}, err
	}
	resp, err := direct.Do(req)
	if err != nil {
		return time.Time{}, fmt.Errorf("clock of %s: %w", node.Name, err)
	}
	resp.Body.Close()
	t, err := http.ParseTime(resp.Header.Get("Date"))
	if err != nil {
		return time.Time{}, fmt.Errorf("clock of %s: Date header %q: %w", node.Name, resp.Header.Get("Date"), err)
	}
	return t, nil
}

// direct is an HTTP client that never goes through a proxy: it only ever
// talks to the lab's own containers.
var direct = &http.Client{Transport: &http.Transport{Proxy: nil}}
