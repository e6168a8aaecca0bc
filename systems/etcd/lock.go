package etcd

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/lab-chaos/lab/systems"
)

// The two ways the lab takes an etcd lock. Both keep the lock as the key
// "<name>/<lease in hex>" under the holder's lease, and the holder is the
// key of the name with the lowest create revision (etcd's
// concurrency.Mutex), so holders of both methods exclude each other.
const (
	// MethodV3Lock is etcd's Lock RPC (the v3lock service): the server
	// runs the mutex for the client, with the client's lease.
	MethodV3Lock = "v3lock"
	// MethodMutex is the client library's concurrency.Mutex, on a session
	// made of the client's lease.
	MethodMutex = "mutex"
)

var _ systems.Locks = (*Etcd)(nil)

// LockMethods are v3lock and mutex.
func (*Etcd) LockMethods() []string { return []string{MethodV3Lock, MethodMutex} }

// LockClient connects to one node.
func (*Etcd) LockClient(ctx context.Context, node systems.Peer) (systems.LockClient, error) {
	c, err := newClient(context.WithoutCancel(ctx), node.Addr)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", node.Name, err)
	}
	return &lockClient{c: c}, nil
}

type lockClient struct{ c *clientv3.Client }

func (l *lockClient) Close() error { return l.c.Close() }

// Grant takes a lease of ttl, rounded up to whole seconds, and keeps it
// alive with a keepalive every quarter of the TTL, each sent by the lease
// itself (not the client library's shared loop), so that the time each
// one was sent is known: see [systems.LockLease.ValidUntil].
func (l *lockClient) Grant(ctx context.Context, ttl time.Duration) (systems.LockLease, error) {
	secs := max(1, int64(math.Ceil(ttl.Seconds())))
	sent := time.Now()
	resp, err := l.c.Grant(ctx, secs)
	if err != nil {
		return nil, classify(err)
	}
	kctx, cancel := context.WithCancel(context.Background())
	ls := &lease{c: l.c, id: int64(resp.ID), ttl: time.Duration(secs) * time.Second, cancel: cancel, done: make(chan struct{})}
	ls.renewed(sent, resp.TTL)
	go ls.keepAlive(kctx)
	return ls, nil
}

// lease is one etcd lease with its own keepalives.
type lease struct {
	c      *clientv3.Client
	id     int64
	ttl    time.Duration
	cancel context.CancelFunc
	done   chan struct{}
	stop   sync.Once

	mu    sync.Mutex
	valid time.Time
	gone  bool
}

func (ls *lease) ID() int64 { return ls.id }

func (ls *lease) ValidUntil() time.Time {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return ls.valid
}

func (ls *lease) Gone() bool {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return ls.gone
}

// renewed records that the lease was renewed after sent, for ttl seconds
// as the server said (never more than the TTL asked for).
func (ls *lease) renewed(sent time.Time, ttl int64) {
	d := min(ls.ttl, time.Duration(ttl)*time.Second)
	ls.mu.Lock()
	if v := sent.Add(d); v.After(ls.valid) {
		ls.valid = v
	}
	ls.mu.Unlock()
}

func (ls *lease) markGone() {
	ls.mu.Lock()
	ls.gone = true
	ls.mu.Unlock()
}

// keepAlive renews the lease every quarter TTL until ctx ends or etcd says
// the lease is gone. Each renewal is one request with its own deadline of
// one period, so a node that does not answer costs one period, not the
// lease.
func (ls *lease) keepAlive(ctx context.Context) {
	defer close(ls.done)
	period := max(ls.ttl/4, 100*time.Millisecond)
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		sent := time.Now()
		kctx, cancel := context.WithTimeout(ctx, period)
		resp, err := ls.c.KeepAliveOnce(kctx, clientv3.LeaseID(ls.id))
		cancel()
		switch {
		case err == nil:
			ls.renewed(sent, resp.TTL)
		case leaseIsGone(err):
			ls.markGone()
			return
		}
	}
}

func leaseIsGone(err error) bool {
	return errors.Is(err, rpctypes.ErrLeaseNotFound) || errors.Is(err, rpctypes.ErrGRPCLeaseNotFound) ||
		rpctypes.ErrorDesc(err) == rpctypes.ErrLeaseNotFound.Error()
}

// lockError classifies an error of a lock attempt: a lease etcd no longer
// has proves that no key was put under it, so no lock was taken (and the
// lease is gone); anything else leaves the outcome unknown, since the key
// put under the lease may become the holder later.
func (ls *lease) lockError(err error) error {
	if leaseIsGone(err) {
		ls.markGone()
		return systems.Definite(err)
	}
	return err
}

// Acquire takes the lock with the method asked for and returns its key's
// create revision as the fencing token.
func (ls *lease) Acquire(ctx context.Context, name, method string) (systems.LockHold, error) {
	switch method {
	case MethodV3Lock:
		return ls.lockRPC(ctx, name)
	case MethodMutex:
		return ls.lockMutex(ctx, name)
	}
	return systems.LockHold{}, systems.Definite(fmt.Errorf("unknown lock method %q (etcd has %s and %s)", method, MethodV3Lock, MethodMutex))
}

// lockRPC calls the Lock RPC. Its answer names the key but not the key's
// create revision; a serializable read of the key at the answer's revision,
// on the node that answered, gives it.
func (ls *lease) lockRPC(ctx context.Context, name string) (systems.LockHold, error) {
	var resp lockResponse
	err := ls.c.ActiveConnection().Invoke(ctx, "/v3lockpb.Lock/Lock", &lockRequest{name: name, lease: ls.id}, &resp, grpc.ForceCodec(wireCodec{}))
	if err != nil {
		return systems.LockHold{}, ls.lockError(err)
	}
	h := systems.LockHold{Name: name, Key: resp.key, Method: MethodV3Lock}
	if g, err := ls.c.Get(ctx, resp.key, clientv3.WithRev(resp.revision), clientv3.WithSerializable()); err == nil && len(g.Kvs) == 1 {
		h.Token = g.Kvs[0].CreateRevision
	}
	return h, nil
}

// lockMutex takes a concurrency.Mutex on a session of the lease. The
// session's own keepalives are stopped at once (as etcd's v3lock server
// does), so the lease's keepalives are the lease's alone. Mutex.Lock
// cleans up after a cancelled wait with a delete that has no deadline; the
// attempt is left to finish in the background and the caller gets the
// context's error when its deadline passes.
func (ls *lease) lockMutex(ctx context.Context, name string) (systems.LockHold, error) {
	type result struct {
		h   systems.LockHold
		err error
	}
	out := make(chan result, 1)
	go func() {
		s, err := concurrency.NewSession(ls.c, concurrency.WithLease(clientv3.LeaseID(ls.id)), concurrency.WithContext(ctx))
		if err != nil {
			out <- result{err: err}
			return
		}
		s.Orphan()
		m := concurrency.NewMutex(s, name)
		if err := m.Lock(ctx); err != nil {
			out <- result{err: ls.lockError(err)}
			return
		}
		// IsOwner compares the key's create revision with the one the
		// mutex holds: the token.
		owner := pb.Compare(m.IsOwner())
		out <- result{h: systems.LockHold{Name: name, Key: m.Key(), Method: MethodMutex, Token: owner.GetCreateRevision()}}
	}()
	select {
	case r := <-out:
		return r.h, r.err
	case <-ctx.Done():
		return systems.LockHold{}, ctx.Err()
	}
}

// Release deletes the lock's key: with the Unlock RPC for a lock taken by
// the Lock RPC, with the client's delete (Mutex.Unlock) otherwise.
func (ls *lease) Release(ctx context.Context, h systems.LockHold) error {
	if h.Key == "" {
		return systems.Definite(fmt.Errorf("release of lock %q: no key", h.Name))
	}
	if h.Method == MethodV3Lock {
		var resp unlockResponse
		err := ls.c.ActiveConnection().Invoke(ctx, "/v3lockpb.Lock/Unlock", &unlockRequest{key: h.Key}, &resp, grpc.ForceCodec(wireCodec{}))
		return classify(err)
	}
	_, err := ls.c.Delete(ctx, h.Key)
	return classify(err)
}

// End stops the keepalives and revokes the lease. A lease etcd no longer
// has is no error.
func (ls *lease) End(ctx context.Context) error {
	ls.stop.Do(ls.cancel)
	<-ls.done
	_, err := ls.c.Revoke(ctx, clientv3.LeaseID(ls.id))
	if err != nil && leaseIsGone(err) {
		ls.markGone()
		return nil
	}
	return classify(err)
}

// The v3lock messages, written and read with protowire: the generated
// types live in etcd's server module, which the lab does not link. Field
// numbers are those of etcd's v3lock.proto.
type (
	lockRequest struct {
		name  string // 1
		lease int64  // 2
	}
	lockResponse struct {
		revision int64  // 1: header, whose field 3 is the revision
		key      string // 2
	}
	unlockRequest  struct{ key string } // 1
	unlockResponse struct{}
)

type wireMessage interface {
	appendWire(b []byte) []byte
	readWire(b []byte) error
}

func (m *lockRequest) appendWire(b []byte) []byte {
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendString(b, m.name)
	if m.lease != 0 {
		b = protowire.AppendTag(b, 2, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(m.lease))
	}
	return b
}

func (m *unlockRequest) appendWire(b []byte) []byte {
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	return protowire.AppendString(b, m.key)
}

func (m *lockResponse) readWire(b []byte) error {
	return readFields(b, func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error {
		switch {
		case num == 1 && typ == protowire.BytesType:
			return readFields(v, func(num protowire.Number, typ protowire.Type, _ []byte, n uint64) error {
				if num == 3 && typ == protowire.VarintType {
					m.revision = int64(n)
				}
				return nil
			})
		case num == 2 && typ == protowire.BytesType:
			m.key = string(v)
		}
		return nil
	})
}

func (*unlockResponse) readWire(b []byte) error {
	return readFields(b, func(protowire.Number, protowire.Type, []byte, uint64) error { return nil })
}

// Requests are only written and responses only read.
func (*lockRequest) readWire([]byte) error         { return errors.New("lock request: written only") }
func (*unlockRequest) readWire([]byte) error       { return errors.New("unlock request: written only") }
func (*lockResponse) appendWire(b []byte) []byte   { return b }
func (*unlockResponse) appendWire(b []byte) []byte { return b }

// readFields calls f with each field of a protobuf message: its number and
// type, and its bytes (length-delimited fields) or its value (varints).
func readFields(b []byte, f func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error) error {
	for len(b) > 0 {
		num, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			return protowire.ParseError(l)
		}
		b = b[l:]
		var v []byte
		var n uint64
		switch typ {
		case protowire.BytesType:
			v, l = protowire.ConsumeBytes(b)
		case protowire.VarintType:
			n, l = protowire.ConsumeVarint(b)
		default:
			l = protowire.ConsumeFieldValue(num, typ, b)
		}
		if l < 0 {
			return protowire.ParseError(l)
		}
		b = b[l:]
		if err := f(num, typ, v, n); err != nil {
			return err
		}
	}
	return nil
}

// wireCodec is gRPC's "proto" codec for the messages above.
type wireCodec struct{}

func (wireCodec) Name() string { return "proto" }

func (wireCodec) Marshal(v any) ([]byte, error) {
	m, ok := v.(wireMessage)
	if !ok {
		return nil, fmt.Errorf("wire codec: cannot marshal %T", v)
	}
	return m.appendWire(nil), nil
}

func (wireCodec) Unmarshal(b []byte, v any) error {
	m, ok := v.(wireMessage)
	if !ok {
		return fmt.Errorf("wire codec: cannot unmarshal into %T", v)
	}
	return m.readWire(b)
}
