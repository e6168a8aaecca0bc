package adapter

import (
	"context"
	"encoding/json"
	"time"

	"github.com/lab-chaos/lab/systems"
)

// The queue's operations. Positions are the queue's own numbering of its
// messages, from 1, as the adapter reports them (a stream's sequence, a
// log's offset plus one).

var _ systems.QueueClient = (*Client)(nil)

// message is one message as the adapter writes it.
type message struct {
	Seq   *uint64 `json:"seq"`
	Value *string `json:"value"`
}

// Publish appends value; the adapter answers ok with the position it was
// stored at.
func (c *Client) Publish(ctx context.Context, value string) (uint64, error) {
	v, err := c.Do(ctx, "publish", "", value)
	if err != nil {
		return 0, err
	}
	var seq uint64
	if err := json.Unmarshal(v, &seq); err != nil || seq == 0 {
		// The publish may well have happened: a position that cannot be
		// read leaves its outcome unknown, never failed.
		return 0, c.badShape("publish value is not a position (an integer from 1): %q", clip(v))
	}
	return seq, nil
}

// Consume takes up to max messages from the consumer the clients share,
// waiting at most wait for the first, acknowledging each one it returns.
func (c *Client) Consume(ctx context.Context, max int, wait time.Duration) ([]systems.Message, error) {
	v, err := c.Do(ctx, "consume", "", map[string]any{"max": max, "wait_ms": wait.Milliseconds()})
	if err != nil {
		return nil, err
	}
	return c.messages("consume", v)
}

// ReadFrom reads up to max messages at positions from onwards, as the
// bound node holds them.
func (c *Client) ReadFrom(ctx context.Context, from uint64, max int) ([]systems.Message, error) {
	v, err := c.Do(ctx, "read-from", "", map[string]any{"from": from, "max": max})
	if err != nil {
		return nil, err
	}
	return c.messages("read-from", v)
}

// Last is the last position the bound node holds; 0 when it holds none.
func (c *Client) Last(ctx context.Context) (uint64, error) {
	v, err := c.Do(ctx, "last", "", nil)
	if err != nil {
		return 0, err
	}
	var seq uint64
	if err := json.Unmarshal(v, &seq); err != nil {
		return 0, c.badShape("last value is not a position: %q", clip(v))
	}
	return seq, nil
}

func (c *Client) messages(f string, v json.RawMessage) ([]systems.Message, error) {
	if len(v) == 0 || string(v) == "null" {
		return nil, nil
	}
	var list []message
	if err := json.Unmarshal(v, &list); err != nil {
		return nil, c.badShape("%s value is not a list of {seq, value}: %q", f, clip(v))
	}
	out := make([]systems.Message, 0, len(list))
	for _, m := range list {
		if m.Seq == nil || *m.Seq == 0 || m.Value == nil {
			return nil, c.badShape("%s message without a position from 1 or a value: %q", f, clip(v))
		}
		out = append(out, systems.Message{Seq: *m.Seq, Value: *m.Value})
	}
	return out, nil
}
