// Command etcd-adapter is a client adapter of the lab's protocol
// (docs/byo.md, "The adapter protocol") for etcd, written in Go over
// etcd's v3 client: an example of an adapter in Go, and the adapter side
// of the benchmark that measures what an adapter costs against the lab's
// own etcd client (bench_test.go, docs/performance.md).
//
//	etcd-adapter [-timeout 800ms] http://127.0.0.1:2379
//
// It reads one JSON request per line on stdin and writes one reply per
// line on stdout, one request at a time. The mapping:
//
//   - ping: ok at once, etcd up or not; it only asks the connection to
//     start.
//   - read: Get of the key (linearizable); its value, or null when the key
//     is absent.
//   - write: Put of the key.
//   - cas: a Txn that puts "to" if the key's value equals "from", or, when
//     "from" is null, if the key was never created (CreateRevision = 0);
//     ok with true when it swapped, false when the compare did not match.
//   - add: Put of set/<key, path-escaped>/<element>, with an empty value.
//   - read-set: Get of the prefix set/<key, path-escaped>/, keys only; the
//     elements in key order.
//
// A register lives at the key itself, as with the lab's own etcd client,
// so both see the same data.
//
// What a reply says, as the protocol asks:
//
//   - fail only when the request certainly did not run: the connection to
//     the endpoint was not ready within half the timeout, so nothing was
//     sent; or etcd refused the request before running it (InvalidArgument,
//     a request too large: the errors the lab's etcd client counts as
//     definite too); or the request is not one the adapter serves or
//     can read.
//   - info for everything else once a request was sent: a deadline, a lost
//     connection, a leader lost while the proposal was in flight.
//
// -timeout bounds each request, the wait for the connection included. Keep
// it under the scenario's timeout (1 s by default): an adapter that
// answers info in time is kept, one that does not is killed by the lab and
// started again.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/status"
)

type request struct {
	ID    json.RawMessage `json:"id"`
	F     string          `json:"f"`
	Key   string          `json:"key"`
	Value json.RawMessage `json:"value"`
}

type reply struct {
	ID    json.RawMessage `json:"id"`
	Type  string          `json:"type"`
	Value any             `json:"value"`
	Error string          `json:"error,omitempty"`
}

// failure is an answer of type fail: the request did not run.
type failure struct{ err error }

func (f failure) Error() string { return f.err.Error() }

func fail(format string, args ...any) error { return failure{fmt.Errorf(format, args...)} }

func main() {
	timeout := flag.Duration("timeout", 800*time.Millisecond, "bound of each request, the wait for a connection included")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: etcd-adapter [-timeout d] <endpoint>, e.g. http://127.0.0.1:2379")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	// The same settings as the lab's etcd client (systems/etcd): the
	// connection is made in the background; New does not wait for it.
	c, err := clientv3.New(clientv3.Config{
		Endpoints:            []string{flag.Arg(0)},
		DialTimeout:          2 * time.Second,
		DialKeepAliveTime:    2 * time.Second,
		DialKeepAliveTimeout: 2 * time.Second,
		Logger:               zap.NewNop(),
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "etcd-adapter: %v\n", err)
		os.Exit(1)
	}
	defer c.Close()
	a := &etcdAdapter{c: c, timeout: *timeout}

	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 64<<10), 4<<20)
	out := bufio.NewWriter(os.Stdout)
	enc := json.NewEncoder(out)
	for in.Scan() {
		var req request
		r := reply{ID: json.RawMessage("null")}
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			r.Type, r.Error = "fail", fmt.Sprintf("not a request: %v", err)
		} else {
			if len(req.ID) > 0 {
				r.ID = req.ID
			}
			v, err := a.do(req)
			var f failure
			switch {
			case err == nil:
				r.Type, r.Value = "ok", v
			case errors.As(err, &f):
				r.Type, r.Error = "fail", err.Error()
			default:
				r.Type, r.Error = "info", err.Error()
			}
		}
		if err := enc.Encode(r); err != nil { // Encode ends the line
			os.Exit(1)
		}
		if err := out.Flush(); err != nil {
			os.Exit(1) // the lab is gone
		}
	}
}

type etcdAdapter struct {
	c       *clientv3.Client
	timeout time.Duration
}

// do runs one request; its error is a failure when the request did not
// run, and unknown otherwise.
func (a *etcdAdapter) do(req request) (any, error) {
	switch req.F {
	case "ping":
		a.c.ActiveConnection().Connect()
		return nil, nil
	case "read", "write", "cas", "add", "read-set":
	default:
		return nil, fail("%q is not served", req.F)
	}
	ctx, cancel := context.WithTimeout(context.Background(), a.timeout)
	defer cancel()
	// Each request needs a connection; a connection that does not come
	// means nothing is sent, so the request certainly did not run.
	if err := a.connected(ctx); err != nil {
		return nil, err
	}
	switch req.F {
	case "read":
		resp, err := a.c.Get(ctx, req.Key)
		if err != nil {
			return nil, classify(err)
		}
		if len(resp.Kvs) == 0 {
			return nil, nil
		}
		return string(resp.Kvs[0].Value), nil
	case "write":
		var v string
		if err := json.Unmarshal(req.Value, &v); err != nil {
			return nil, fail("write value: %v", err)
		}
		_, err := a.c.Put(ctx, req.Key, v)
		return nil, classify(err)
	case "cas":
		var v struct {
			From *string `json:"from"`
			To   string  `json:"to"`
		}
		if err := json.Unmarshal(req.Value, &v); err != nil {
			return nil, fail("cas value: %v", err)
		}
		cmp := clientv3.Compare(clientv3.CreateRevision(req.Key), "=", 0)
		if v.From != nil {
			cmp = clientv3.Compare(clientv3.Value(req.Key), "=", *v.From)
		}
		resp, err := a.c.Txn(ctx).If(cmp).Then(clientv3.OpPut(req.Key, v.To)).Commit()
		if err != nil {
			return nil, classify(err)
		}
		return resp.Succeeded, nil
	case "add":
		var e string
		if err := json.Unmarshal(req.Value, &e); err != nil {
			return nil, fail("add value: %v", err)
		}
		_, err := a.c.Put(ctx, setPrefix(req.Key)+e, "")
		return nil, classify(err)
	case "read-set":
		p := setPrefix(req.Key)
		resp, err := a.c.Get(ctx, p, clientv3.WithPrefix(), clientv3.WithKeysOnly())
		if err != nil {
			return nil, classify(err)
		}
		out := make([]string, 0, len(resp.Kvs))
		for _, kv := range resp.Kvs {
			out = append(out, strings.TrimPrefix(string(kv.Key), p))
		}
		return out, nil
	}
	return nil, fail("%q is not served", req.F)
}

// setPrefix is where the elements of the set at key live: the key is
// escaped, so that no set's prefix is another's.
func setPrefix(key string) string { return "set/" + url.PathEscape(key) + "/" }

// connected waits, up to half of ctx's time, for the connection to the
// endpoint to be ready. When it is not, nothing was sent: a failure.
func (a *etcdAdapter) connected(ctx context.Context) error {
	conn := a.c.ActiveConnection()
	ctx, cancel := context.WithTimeout(ctx, a.timeout/2)
	defer cancel()
	for {
		s := conn.GetState()
		switch s {
		case connectivity.Ready:
			return nil
		case connectivity.Idle:
			conn.Connect()
		}
		if !conn.WaitForStateChange(ctx, s) {
			return fail("no connection to %s (%s after %s); the request was not sent", strings.Join(a.c.Endpoints(), ","), s, a.timeout/2)
		}
	}
}

// classify is the lab's rule (systems/etcd): errors after which etcd
// certainly did not apply the request are failures; everything else
// (timeouts, lost connections, a leader lost while the proposal was in
// flight) is unknown.
func classify(err error) error {
	if err == nil {
		return nil
	}
	switch {
	case errors.Is(err, rpctypes.ErrGRPCCompacted), errors.Is(err, rpctypes.ErrCompacted),
		errors.Is(err, rpctypes.ErrGRPCKeyNotFound),
		errors.Is(err, rpctypes.ErrGRPCRequestTooLarge), errors.Is(err, rpctypes.ErrRequestTooLarge):
		return failure{err}
	}
	if s, ok := status.FromError(err); ok && s.Code() == codes.InvalidArgument {
		return failure{err}
	}
	return err
}
