package scenarios

import (
	"fmt"
	"time"

	"go.yaml.in/yaml/v3"
)

// strList decodes a list of strings, or a single string as a list of one.
func (d *decoder) strList(n *yaml.Node, path string) ([]string, bool) {
	if !d.plain(n, path) {
		return nil, false
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" {
		return []string{n.Value}, true
	}
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		d.add(n, path, "write a list of node names, such as [n1, n2]", "want a list of node names, got %s", describe(n))
		return nil, false
	}
	var out []string
	for i, item := range n.Content {
		if v, ok := d.str(item, fmt.Sprintf("%s[%d]", path, i)); ok {
			out = append(out, v)
		}
	}
	return out, len(out) == len(n.Content)
}

func (d *decoder) schedule(n *yaml.Node, path string, sc *Schedule) {
	d.mapping(n, path, []field{
		{key: "mode", decode: func(n *yaml.Node, p string) {
			if v, ok := d.enum(n, p, KnownScheduleModes); ok {
				sc.Mode = v
			}
		}},
		{key: "overlap", decode: func(n *yaml.Node, p string) {
			if v, ok := d.boolean(n, p); ok {
				sc.Overlap = v
			}
		}},
		{key: "mean_interval", decode: func(n *yaml.Node, p string) {
			if v, ok := d.durationIn(n, p, 100*time.Millisecond, time.Hour); ok {
				sc.MeanInterval = v
			}
		}},
	})
	if sc.Mode == "random" && sc.MeanInterval == 0 && d.valid(path) {
		d.add(n, path+".mean_interval", `add "mean_interval: 15s": the average gap between faults`, "schedule random needs mean_interval")
	}
	if sc.Mode == "fixed" && sc.MeanInterval != 0 {
		d.add(n, path+".mean_interval", "remove it, or use mode: random", "mean_interval applies only to mode random")
	}
}
