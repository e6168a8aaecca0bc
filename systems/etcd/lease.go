package etcd

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/lab-chaos/lab/systems"
)

var _ systems.Leases = (*Etcd)(nil)

// LeaseClient connects to one node. Its requests go to that node, which
// forwards keepalives to the leader (renewals do not go through raft).
func (*Etcd) LeaseClient(ctx context.Context, node systems.Peer) (systems.LeaseClient, error) {
	c, err := newClient(context.WithoutCancel(ctx), node.Addr)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", node.Name, err)
	}
	return &leaseClient{c: c}, nil
}

type leaseClient struct{ c *clientv3.Client }

func (l *leaseClient) Close() error { return l.c.Close() }

// Grant asks for a lease of ttl rounded up to whole seconds; etcd raises
// it to its minimum (2 s with the default election timeout).
func (l *leaseClient) Grant(ctx context.Context, ttl time.Duration) (int64, time.Duration, error) {
	secs := max(1, int64(math.Ceil(ttl.Seconds())))
	resp, err := l.c.Grant(ctx, secs)
	if err != nil {
		return 0, 0, classify(err)
	}
	return int64(resp.ID), time.Duration(resp.TTL) * time.Second, nil
}

// KeepAliveOnce sends one keepalive on a stream of its own. etcd answers a
// lease it does not have with a TTL of 0, which the client library turns
// into ErrLeaseNotFound: definite, the lease is gone. Any other error
// (a timeout, no leader, a lost connection) is unknown: the renewal may
// still reach the leader.
func (l *leaseClient) KeepAliveOnce(ctx context.Context, id int64) (time.Duration, error) {
	resp, err := l.c.KeepAliveOnce(ctx, clientv3.LeaseID(id))
	if err != nil {
		if leaseNotFound(err) {
			return 0, systems.Definite(err)
		}
		return 0, err
	}
	return time.Duration(resp.TTL) * time.Second, nil
}

// Put writes the key attached to the lease. etcd refuses a lease it does
// not have when it applies the request: definite.
func (l *leaseClient) Put(ctx context.Context, key, value string, lease int64) error {
	_, err := l.c.Put(ctx, key, value, clientv3.WithLease(clientv3.LeaseID(lease)))
	if err != nil && leaseNotFound(err) {
		return systems.Definite(err)
	}
	return classify(err)
}

// Read is a linearizable get.
func (l *leaseClient) Read(ctx context.Context, key string) (string, bool, error) {
	resp, err := l.c.Get(ctx, key)
	if err != nil {
		return "", false, classify(err)
	}
	if len(resp.Kvs) == 0 {
		return "", false, nil
	}
	return string(resp.Kvs[0].Value), true, nil
}

func leaseNotFound(err error) bool {
	return errors.Is(err, rpctypes.ErrLeaseNotFound) || errors.Is(err, rpctypes.ErrGRPCLeaseNotFound)
}
