package nats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/lab-chaos/lab/systems"
)

// connect opens a connection bound to one node: the client never moves to
// another server it learns of, so that what it records is what that node
// did (and a partition cuts it off as it cuts the node).
func connect(ctx context.Context, addr netip.Addr) (*natsgo.Conn, error) {
	url := fmt.Sprintf("nats://%s:%d", addr, clientPort)
	timeout := 2 * time.Second
	if d, ok := ctx.Deadline(); ok && time.Until(d) < timeout {
		timeout = max(time.Until(d), 100*time.Millisecond)
	}
	return natsgo.Connect(url,
		natsgo.Name("lab"),
		natsgo.Timeout(timeout),
		natsgo.DontRandomize(),
		natsgo.IgnoreDiscoveredServers(),
		natsgo.MaxReconnects(-1),
		natsgo.ReconnectWait(250*time.Millisecond),
		natsgo.ReconnectBufSize(-1), // no buffering while disconnected: fail at once
		natsgo.NoCallbacksAfterClientClose(),
	)
}

// monitor fetches path from the node's monitoring port into v.
func monitor(ctx context.Context, addr netip.Addr, path string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s:%d%s", addr, httpPort, path), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s: %s", path, resp.Status, clip(string(body)))
	}
	if v == nil {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%s: unreadable answer: %w", path, err)
	}
	return nil
}

func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}

// jsz is the part of /jsz?streams=true the lab reads: this node's own view
// of the stream (its replica's state) and of the leaders.
type jsz struct {
	Meta *struct {
		Leader string `json:"leader"`
	} `json:"meta_cluster"`
	Accounts []struct {
		Streams []struct {
			Name  string `json:"name"`
			State struct {
				Messages uint64 `json:"messages"`
				FirstSeq uint64 `json:"first_seq"`
				LastSeq  uint64 `json:"last_seq"`
			} `json:"state"`
			Cluster *struct {
				Leader string `json:"leader"`
			} `json:"cluster"`
		} `json:"stream_detail"`
	} `json:"account_details"`
}

// streamView is what one node says of the stream: its last sequence and
// the stream's leader, as it sees them.
type streamView struct {
	found   bool
	lastSeq uint64
	leader  string
	meta    string
}

func nodeView(ctx context.Context, addr netip.Addr) (streamView, error) {
	var j jsz
	if err := monitor(ctx, addr, "/jsz?streams=true", &j); err != nil {
		return streamView{}, err
	}
	var v streamView
	if j.Meta != nil {
		v.meta = j.Meta.Leader
	}
	for _, a := range j.Accounts {
		for _, s := range a.Streams {
			if s.Name == streamName {
				v.found, v.lastSeq = true, s.State.LastSeq
				if s.Cluster != nil {
					v.leader = s.Cluster.Leader
				}
			}
		}
	}
	return v, nil
}

func (n *NATS) streamConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        streamName,
		Subjects:    []string{subject},
		Storage:     jetstream.FileStorage,
		Replicas:    n.replicas,
		Retention:   jetstream.LimitsPolicy,
		AllowDirect: true,
	}
}

// Ready is nil once the node is healthy, the stream exists with a leader
// and every replica current, and the shared consumer exists. The first
// node to be ready makes both; later calls find them.
func (n *NATS) Ready(ctx context.Context, node systems.Peer) error {
	if err := monitor(ctx, node.Addr, "/healthz", nil); err != nil {
		return fmt.Errorf("health of %s: %w", node.Name, err)
	}
	nc, err := connect(ctx, node.Addr)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", node.Name, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	st, err := js.CreateOrUpdateStream(ctx, n.streamConfig())
	if err != nil {
		return fmt.Errorf("stream %s through %s: %w", streamName, node.Name, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return fmt.Errorf("stream %s through %s: %w", streamName, node.Name, err)
	}
	if info.Cluster == nil || info.Cluster.Leader == "" {
		return fmt.Errorf("stream %s has no leader yet", streamName)
	}
	if len(info.Cluster.Replicas) != n.replicas-1 {
		return fmt.Errorf("stream %s has %d followers, want %d", streamName, len(info.Cluster.Replicas), n.replicas-1)
	}
	for _, r := range info.Cluster.Replicas {
		if !r.Current || r.Offline {
			return fmt.Errorf("stream %s: replica %s is not current yet", streamName, r.Name)
		}
	}
	if _, err := st.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:   consumerName,
		AckPolicy: jetstream.AckExplicitPolicy,
		AckWait:   ackWait,
	}); err != nil {
		return fmt.Errorf("consumer %s through %s: %w", consumerName, node.Name, err)
	}
	v, err := nodeView(ctx, node.Addr)
	if err != nil {
		return err
	}
	if !v.found {
		return fmt.Errorf("%s does not hold a replica of stream %s yet", node.Name, streamName)
	}
	return nil
}

// QueueClient connects to one node.
func (n *NATS) QueueClient(ctx context.Context, node systems.Peer) (systems.QueueClient, error) {
	nc, err := connect(ctx, node.Addr)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", node.Name, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return &queueClient{nc: nc, js: js, addr: node.Addr}, nil
}

type queueClient struct {
	nc   *natsgo.Conn
	js   jetstream.JetStream
	addr netip.Addr
	cons jetstream.Consumer
}

func (q *queueClient) Close() error {
	q.nc.Close()
	return nil
}

func (q *queueClient) Publish(ctx context.Context, value string) (uint64, error) {
	ack, err := q.js.Publish(ctx, subject, []byte(value))
	if err != nil {
		return 0, classify(err)
	}
	if ack.Stream != streamName {
		return 0, fmt.Errorf("acknowledged by stream %q, not %s", ack.Stream, streamName)
	}
	return ack.Sequence, nil
}

// classify marks the errors after which JetStream certainly did not store
// a message: no server had interest in the subject (nothing received it),
// or the stream answered with an error instead of an acknowledgement.
// Timeouts and lost connections stay unknown.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var api *jetstream.APIError
	switch {
	case errors.Is(err, jetstream.ErrNoStreamResponse), errors.Is(err, natsgo.ErrNoResponders):
		return systems.Definite(err)
	case errors.Is(err, natsgo.ErrReconnectBufExceeded):
		// Disconnected, and the lab keeps no buffer: nothing was sent.
		return systems.Definite(err)
	case errors.As(err, &api):
		return systems.Definite(err)
	}
	return err
}

func (q *queueClient) Consume(ctx context.Context, max int, wait time.Duration) ([]systems.Message, error) {
	if q.cons == nil {
		c, err := q.js.Consumer(ctx, streamName, consumerName)
		if err != nil {
			return nil, err
		}
		q.cons = c
	}
	if d, ok := ctx.Deadline(); ok && time.Until(d) < wait {
		wait = max2(time.Until(d), time.Millisecond)
	}
	batch, err := q.cons.Fetch(max, jetstream.FetchMaxWait(wait))
	if err != nil {
		return nil, err
	}
	var out []systems.Message
	for m := range batch.Messages() {
		md, err := m.Metadata()
		if err != nil {
			continue
		}
		out = append(out, systems.Message{Seq: md.Sequence.Stream, Value: string(m.Data())})
		// A lost ack means a redelivery, a duplicate the checker counts;
		// waiting for each ack would halve the consumers' rate.
		_ = m.Ack()
	}
	if err := batch.Error(); err != nil && len(out) == 0 && !errors.Is(err, natsgo.ErrTimeout) {
		return nil, err
	}
	return out, nil
}

func max2(a, b time.Duration) time.Duration {
	if a > b {
		return a
	}
	return b
}

// ReadFrom reads with JetStream's direct get, which every replica serves
// from its own store (allow_direct), through a connection bound to this
// node: NATS hands a request to a subscriber on the same server first.
// Each request asks for the first message at or after a position, so a
// hole in the node's log is stepped over, not taken for its end.
func (q *queueClient) ReadFrom(ctx context.Context, from uint64, max int) ([]systems.Message, error) {
	var out []systems.Message
	for seq := from; len(out) < max; {
		req, _ := json.Marshal(struct {
			Seq  uint64 `json:"seq"`
			Next string `json:"next_by_subj"`
		}{seq, subject})
		m, err := q.nc.RequestWithContext(ctx, "$JS.API.DIRECT.GET."+streamName, req)
		if err != nil {
			// What was read before the error is returned with it: the
			// caller may keep it, but it is not the node's whole log.
			return out, fmt.Errorf("direct get from position %d: %w", seq, err)
		}
		switch m.Header.Get("Status") {
		case "":
		case "404":
			return out, nil
		default:
			return out, fmt.Errorf("direct get from position %d: status %s %s", seq, m.Header.Get("Status"), m.Header.Get("Description"))
		}
		got, err := strconv.ParseUint(m.Header.Get("Nats-Sequence"), 10, 64)
		if err != nil || got < seq {
			return out, fmt.Errorf("direct get from position %d: answer at position %q", seq, m.Header.Get("Nats-Sequence"))
		}
		out = append(out, systems.Message{Seq: got, Value: string(m.Data)})
		seq = got + 1
	}
	return out, nil
}

// Last is the last position the node's own replica holds, from its
// monitoring port; 0 when the node answers and holds no replica.
func (q *queueClient) Last(ctx context.Context) (uint64, error) {
	v, err := nodeView(ctx, q.addr)
	if err != nil {
		return 0, err
	}
	if !v.found {
		// The node answered and holds no replica: it holds nothing.
		return 0, nil
	}
	return v.lastSeq, nil
}

// Leader is the stream's leader as the nodes see it: the answer of the
// first node that names one.
func (n *NATS) Leader(ctx context.Context, peers []systems.Peer) (string, error) {
	var errs []error
	for _, p := range peers {
		v, err := nodeView(ctx, p.Addr)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p.Name, err))
			continue
		}
		if v.leader != "" {
			return v.leader, nil
		}
	}
	return "", fmt.Errorf("no node names a leader of stream %s: %w", streamName, errors.Join(errs...))
}

// MetaLeader is the leader of JetStream's meta group, as the first node
// that answers sees it.
func (n *NATS) MetaLeader(ctx context.Context, peers []systems.Peer) (string, error) {
	var errs []error
	for _, p := range peers {
		v, err := nodeView(ctx, p.Addr)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p.Name, err))
			continue
		}
		if v.meta != "" {
			return v.meta, nil
		}
	}
	return "", fmt.Errorf("no node names a meta leader: %w", errors.Join(errs...))
}

// NodeTime is the node's own clock, from /varz.
func (n *NATS) NodeTime(ctx context.Context, node systems.Peer) (time.Time, error) {
	var v struct {
		Now time.Time `json:"now"`
	}
	if err := monitor(ctx, node.Addr, "/varz", &v); err != nil {
		return time.Time{}, err
	}
	if v.Now.IsZero() {
		return time.Time{}, fmt.Errorf("/varz of %s has no time", node.Name)
	}
	return v.Now, nil
}
