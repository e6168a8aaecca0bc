package byo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/lab-chaos/lab/systems"
)

var (
	_ systems.Leaders        = (*Instance)(nil)
	_ systems.LeaderOptional = (*Instance)(nil)
)

// HasLeader says whether the file says how to ask for the leader; without
// it, faults that target the leader are refused before anything starts.
func (s *Instance) HasLeader() bool { return s.file.Leader != nil }

// Leader asks each of peers in turn which node leads (the file's leader
// section), and returns the node the answering nodes agree on. Nodes that
// do not answer are passed over; nodes that answer differently are an
// error, as is an answer that names no node.
func (s *Instance) Leader(ctx context.Context, peers []systems.Peer) (string, error) {
	l := s.file.Leader
	if l == nil {
		return "", errors.New("the system file has no leader section")
	}
	var leader, by string
	var lastErr error
	for _, p := range peers {
		vars, err := s.varsOf(p)
		if err != nil {
			return "", err
		}
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		out, err := s.ask(actx, "leader", l.Command, l.HTTP, vars)
		cancel()
		if err != nil {
			lastErr = fmt.Errorf("%s: %w", p.Name, err)
			continue
		}
		name, err := s.leaderIn(out, peers)
		if err != nil {
			lastErr = fmt.Errorf("%s: %w", p.Name, err)
			continue
		}
		if leader != "" && name != leader {
			return "", fmt.Errorf("the nodes disagree on the leader: %s says %s, %s says %s", by, leader, p.Name, name)
		}
		leader, by = name, p.Name
	}
	if leader == "" {
		if lastErr == nil {
			lastErr = errors.New("no node to ask")
		}
		return "", fmt.Errorf("no node named the leader: %w", lastErr)
	}
	return leader, nil
}

// leaderIn reads one answer: the leader's node name or address (with or
// without a port), or that field of a JSON object.
func (s *Instance) leaderIn(out []byte, peers []systems.Peer) (string, error) {
	answer := strings.TrimSpace(string(out))
	if f := s.file.Leader.JSON; f != "" {
		var obj map[string]any
		if err := json.Unmarshal(out, &obj); err != nil {
			return "", fmt.Errorf("the answer is not a JSON object: %q", clip(out))
		}
		v, ok := obj[f].(string)
		if !ok {
			return "", fmt.Errorf("the answer has no string field %q: %q", f, clip(out))
		}
		answer = strings.TrimSpace(v)
	}
	if answer == "" {
		return "", errors.New("the answer is empty (no leader now)")
	}
	host := answer
	if h, _, err := net.SplitHostPort(answer); err == nil {
		host = h
	}
	for _, p := range peers {
		if answer == p.Name || host == p.Addr.String() {
			return p.Name, nil
		}
	}
	return "", fmt.Errorf("the answer %q names no node", clip([]byte(answer)))
}
