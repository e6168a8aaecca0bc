package checker

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/anishathalye/porcupine"
	"github.com/lab-chaos/lab/history"
)

// The kv model, as porcupine's kv histories: per key a string, initially
// empty; get returns it, put replaces it, append adds to its end.

type kvKind uint8

const (
	kvGet kvKind = iota
	kvPut
	kvAppend
)

type kvIn struct {
	kind kvKind
	s    string
}

type kvOut struct {
	s       string
	unknown bool
}

// kvWild marks the wildcard state of a visualization window.
const kvWild = "\x00?"

func kvStep(st string, in kvIn, out kvOut) (bool, string) {
	switch in.kind {
	case kvGet:
		if st == kvWild {
			return true, out.s
		}
		return out.s == st, st
	case kvPut:
		return true, in.s
	}
	if st == kvWild {
		return true, st
	}
	return true, st + in.s
}

func kvModel(init string) porcupine.Model {
	return porcupine.Model{
		Init: func() any { return init },
		Step: func(st, in, out any) (bool, any) {
			ok, next := kvStep(st.(string), in.(kvIn), out.(kvOut))
			return ok, next
		},
		Hash: func(st any) uint64 {
			h := fnv.New64a()
			h.Write([]byte(st.(string)))
			return h.Sum64()
		},
		DescribeOperation: func(in, out any) string {
			i, o := in.(kvIn), out.(kvOut)
			switch i.kind {
			case kvGet:
				return fmt.Sprintf("get() -> %q", o.s)
			case kvPut:
				return fmt.Sprintf("put(%q)", i.s)
			}
			return fmt.Sprintf("append(%q)", i.s)
		},
		DescribeState: func(st any) string {
			if st.(string) == kvWild {
				return "?"
			}
			return fmt.Sprintf("%q", st)
		},
	}
}

// kvString reads a kv value: a JSON string, nil as "", anything else as
// its JSON text.
func kvString(v history.Value) string {
	if v.IsNil() {
		return ""
	}
	var s string
	if err := json.Unmarshal(v, &s); err == nil {
		return s
	}
	return strings.TrimSpace(string(v))
}

func buildKV(key string, ops []history.Op, _ timeFormat) (*partition, error) {
	p := &partition{key: key, ops: ops}
	for i, op := range ops {
		if op.Type == history.Info {
			p.unknown++
		}
		if op.Type == history.Fail {
			p.red.DroppedFailed++
			continue
		}
		var in kvIn
		var out kvOut
		switch op.F {
		case "get":
			if op.Type != history.OK {
				p.red.DroppedUnknownReads++
				continue
			}
			in.kind = kvGet
			out.s = kvString(op.Output)
		case "put":
			in = kvIn{kind: kvPut, s: kvString(op.Input)}
		case "append":
			in = kvIn{kind: kvAppend, s: kvString(op.Input)}
		default:
			return nil, fmt.Errorf("event %d: f %q is not an operation of the kv model (expected get, put, append)", op.Index+1, op.F)
		}
		out.unknown = op.Type != history.OK
		p.search = append(p.search, porcupine.Operation{
			ClientId: int(op.Process), Input: in, Output: out,
			Call: op.Call, Return: op.Return, Metadata: i,
		})
	}
	p.pm = kvModel("")
	vm := kvModel(kvWild)
	p.vizModel = &vm
	return p, nil
}
