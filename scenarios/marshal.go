package scenarios

import (
	"go.yaml.in/yaml/v3"
)

// inline encodes v and then params as one YAML mapping: the fields every
// kind shares, followed by the kind's own. scenario.yaml is written this
// way, and the loader reads it back to the same scenario.
func inline(v, params any) (*yaml.Node, error) {
	var n yaml.Node
	if err := n.Encode(v); err != nil {
		return nil, err
	}
	if params == nil {
		return &n, nil
	}
	var p yaml.Node
	if err := p.Encode(params); err != nil {
		return nil, err
	}
	if p.Kind == yaml.MappingNode {
		n.Content = append(n.Content, p.Content...)
	}
	return &n, nil
}

// MarshalYAML writes the system with its own settings inline.
func (s System) MarshalYAML() (any, error) {
	type plain System
	return inline(plain(s), s.Params)
}

// MarshalYAML writes the workload with its own settings inline.
func (w Workload) MarshalYAML() (any, error) {
	type plain Workload
	return inline(plain(w), w.Params)
}

// MarshalYAML writes the fault with its kind's fields inline.
func (f Fault) MarshalYAML() (any, error) {
	type plain Fault
	return inline(plain(f), f.Params)
}
