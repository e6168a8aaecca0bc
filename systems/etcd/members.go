package etcd

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/lab-chaos/lab/systems"
)

var _ systems.Members = (*Etcd)(nil)

// MemberStates waits (up to 10 s) until every member reports the same
// revision, then reads each member on its own at that revision: its keys
// (a serializable range read, served from the member's own store) and its
// HashKV. If the members never agree on a revision, the lowest one is
// read, which every member has applied.
func (*Etcd) MemberStates(ctx context.Context, peers []systems.Peer) ([]systems.MemberState, []error) {
	states := make([]systems.MemberState, len(peers))
	errs := make([]error, len(peers))
	clients := make([]*clientv3.Client, len(peers))
	for i, p := range peers {
		c, err := newClient(ctx, p.Addr)
		if err != nil {
			errs[i] = err
			continue
		}
		defer c.Close()
		clients[i] = c
	}
	revs := make([]int64, len(peers))
	deadline := time.Now().Add(10 * time.Second)
	var rev int64
	for {
		rev = 0
		same := true
		for i, c := range clients {
			if c == nil {
				continue
			}
			sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			st, err := c.Status(sctx, endpoint(peers[i].Addr))
			cancel()
			if err != nil {
				errs[i], revs[i] = err, 0
				continue
			}
			errs[i], revs[i] = nil, st.Header.Revision
			if rev != 0 && revs[i] != rev {
				same = false
			}
			if rev == 0 || revs[i] < rev {
				rev = revs[i]
			}
		}
		if same || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	for i, c := range clients {
		if c == nil || errs[i] != nil {
			continue
		}
		ep := endpoint(peers[i].Addr)
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		h, err := c.HashKV(rctx, ep, rev)
		if err != nil {
			cancel()
			errs[i] = fmt.Errorf("HashKV at revision %d: %w", rev, err)
			continue
		}
		// A serializable read is answered by the member the client is
		// bound to, from its own store.
		resp, err := c.Get(rctx, "", clientv3.WithPrefix(), clientv3.WithRev(rev), clientv3.WithSerializable())
		cancel()
		if err != nil {
			errs[i] = fmt.Errorf("range read at revision %d: %w", rev, err)
			continue
		}
		kvs := make(map[string]string, len(resp.Kvs))
		for _, kv := range resp.Kvs {
			kvs[string(kv.Key)] = string(kv.Value)
		}
		states[i] = systems.MemberState{Revision: rev, Hash: h.Hash, KVs: kvs}
	}
	return states, errs
}
