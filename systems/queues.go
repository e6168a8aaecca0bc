package systems

import (
	"context"
	"time"
)

// Queues is a system that supports the queue workload: one replicated,
// durable log of messages (a JetStream stream, a Kafka topic) that
// publishers append to and consumers take from. The system makes the
// queue before it reports ready, with one replica per node.
type Queues interface {
	Instance
	// QueueClient connects to one node.
	QueueClient(ctx context.Context, node Peer) (QueueClient, error)
}

// Message is one message of a queue, at the position the system gave it.
type Message struct {
	// Seq is the message's position in the queue, from 1 (JetStream's
	// stream sequence).
	Seq uint64
	// Value is the message's payload, as the publisher sent it.
	Value string
}

// QueueClient is a client of the queue, bound to one node. As with
// registers, an error wrapped with [Definite] proves the operation did not
// happen; every other error leaves its outcome unknown.
type QueueClient interface {
	// Publish appends value and waits for the system's acknowledgement:
	// the position it was stored at. A publish acknowledged is a promise
	// that the message survives.
	Publish(ctx context.Context, value string) (seq uint64, err error)
	// Consume takes up to max messages from the consumer every client
	// shares, waiting at most wait for the first, and acknowledges each
	// one taken. No message before the wait ends is no error.
	Consume(ctx context.Context, max int, wait time.Duration) ([]Message, error)
	// ReadFrom reads up to max messages at positions from onwards, in
	// order, as this node holds them (not through the consumer, and not
	// forwarded to another node where the system allows), for the final
	// drain that compares what every node kept. Fewer than max, or none,
	// means the node holds no more now. On an error, the messages read
	// before it are returned with it.
	ReadFrom(ctx context.Context, from uint64, max int) ([]Message, error)
	// Last is the last position this node holds now, as the node itself
	// says: where its part of the drain ends; 0 if it holds nothing.
	Last(ctx context.Context) (uint64, error)
	Close() error
}
