package checker

import (
	"fmt"
	"math"
	"time"

	"github.com/lab-chaos/lab/history"
)

// Reading a lease history: each operation to its key, each value checked.
// A value the model cannot read, or a history that breaks the format
// (a second grant or put on a key, a lease that is not the key's), is bad
// input, an error naming the event.

// event is the 1-based number of op's completion event.
func (l *leaseCheck) event(op *history.Op) int {
	if i, ok := l.done[op.Index]; ok {
		return i + 1
	}
	return op.Index + 1
}

func (l *leaseCheck) key(name string) *leaseKey {
	k := l.keys[name]
	if k == nil {
		k = &leaseKey{key: name}
		l.keys[name] = k
		l.order = append(l.order, k)
	}
	return k
}

// read sorts ops into keys and checks their values.
func (l *leaseCheck) read(ops []history.Op) error {
	// Grants first, so that the other operations can be checked against
	// their key's lease whatever the order of invocations.
	for i := range ops {
		op := &ops[i]
		if op.Key == "" {
			return fmt.Errorf("event %d: a %s of the lease model must name its key", op.Index+1, op.F)
		}
		if op.F != "grant" {
			continue
		}
		k := l.key(op.Key)
		if k.grant != nil {
			return fmt.Errorf("event %d: key %q has a second grant (the first at event %d): the lease model takes one lease per key", op.Index+1, op.Key, k.grant.Index+1)
		}
		k.grant = op
		if op.Type != history.OK {
			continue
		}
		pair, ok := op.Output.Ints()
		if !ok || len(pair) != 2 || pair[1] < 1 || pair[1] > math.MaxInt64/int64(time.Second) {
			return fmt.Errorf("event %d: grant ok value must be [lease, ttl] (integers, the TTL in seconds from 1), got %s", l.event(op), clip(op.Output.String()))
		}
		k.id, k.ttl = pair[0], pair[1]*int64(time.Second)
	}
	for i := range ops {
		op := &ops[i]
		k := l.key(op.Key)
		switch op.F {
		case "put":
			if err := l.readPut(k, op); err != nil {
				return err
			}
		case "keepalive", "release":
			if err := l.leaseOf(k, op, op.Input, op.F+" value must be the lease (an integer)"); err != nil {
				return err
			}
			if op.F == "release" {
				if k.rel == nil {
					k.rel = op
				}
				continue
			}
			if op.Type == history.OK {
				if t, ok := op.Output.Int(); !ok || t < 1 || t > math.MaxInt64/int64(time.Second) {
					return fmt.Errorf("event %d: keepalive ok value must be the lease's TTL in seconds (an integer from 1), got %s", l.event(op), clip(op.Output.String()))
				}
			}
			k.keeps = append(k.keeps, op)
		case "read":
			if op.Type != history.OK {
				continue // a read changes nothing, and an unknown one saw nothing
			}
			r := leaseRead{op: op, absent: op.Output.IsNil()}
			if !r.absent {
				v, ok := message(op.Output)
				if !ok {
					return fmt.Errorf("event %d: read ok value must be the key's value (an integer or a string) or null, got %s", l.event(op), clip(op.Output.String()))
				}
				r.val = v
			}
			k.reads = append(k.reads, r)
		}
	}
	return nil
}

// readPut checks a put: [value, lease], the key's lease.
func (l *leaseCheck) readPut(k *leaseKey, op *history.Op) error {
	if k.put != nil {
		return fmt.Errorf("event %d: key %q has a second put (the first at event %d): the lease model takes one put per key", op.Index+1, k.key, k.put.Index+1)
	}
	parts, ok := elems(op.Input)
	if !ok || len(parts) != 2 {
		return fmt.Errorf("event %d: put value must be [value, lease], got %s", op.Index+1, clip(op.Input.String()))
	}
	v, ok := message(parts[0])
	if !ok {
		return fmt.Errorf("event %d: put value must be [value, lease] with an integer or string value, got %s", op.Index+1, clip(op.Input.String()))
	}
	if err := l.leaseOf(k, op, parts[1], "put value must be [value, lease] with an integer lease"); err != nil {
		return err
	}
	k.put, k.val = op, v
	return nil
}

// leaseOf checks that v, the lease an operation names, is its key's; want
// says what the value must be.
func (l *leaseCheck) leaseOf(k *leaseKey, op *history.Op, v history.Value, want string) error {
	id, ok := v.Int()
	if !ok {
		return fmt.Errorf("event %d: %s, got %s", op.Index+1, want, clip(op.Input.String()))
	}
	switch {
	case k.grant == nil:
		return fmt.Errorf("event %d: %s of lease %x on key %q, which has no grant", op.Index+1, op.F, uint64(id), k.key)
	case k.grant.Type != history.OK:
		return fmt.Errorf("event %d: %s of lease %x on key %q, whose grant (event %d) returned no lease", op.Index+1, op.F, uint64(id), k.key, k.grant.Index+1)
	case id != k.id:
		return fmt.Errorf("event %d: %s of lease %x on key %q, whose grant (event %d) returned lease %x", op.Index+1, op.F, uint64(id), k.key, k.grant.Index+1, uint64(k.id))
	}
	return nil
}
