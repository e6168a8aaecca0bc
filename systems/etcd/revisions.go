package etcd

import (
	"context"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/lab-chaos/lab/systems"
)

var _ systems.Revisions = (*Etcd)(nil)

// RevisionReader asks one member for its status: the header of a Status
// answer carries the revision that member has applied, from its own
// store, without consensus.
func (*Etcd) RevisionReader(ctx context.Context, peer systems.Peer) (systems.RevisionReader, error) {
	c, err := newClient(ctx, peer.Addr)
	if err != nil {
		return nil, err
	}
	return &revisionReader{c: c, ep: endpoint(peer.Addr)}, nil
}

type revisionReader struct {
	c  *clientv3.Client
	ep string
}

func (r *revisionReader) Revision(ctx context.Context) (int64, error) {
	st, err := r.c.Status(ctx, r.ep)
	if err != nil {
		return 0, err
	}
	return st.Header.Revision, nil
}

func (r *revisionReader) Close() error { return r.c.Close() }
