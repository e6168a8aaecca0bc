// Command server is the smallest honest service a team could bring to the
// lab: one node that keeps registers and sets, answers a line protocol on
// TCP, and appends every change to a log it fsyncs before it answers, so
// an acknowledged change survives a kill. It is the example of
// docs/byo.md, not a system worth testing for itself.
//
// Protocol, one request per line, words separated by spaces:
//
//	GET key            -> VALUE v | NONE
//	SET key v          -> OK
//	CAS key old new    -> OK | MISMATCH     (old "-" means no value)
//	SADD key element   -> OK
//	SMEMBERS key       -> MEMBERS e1 e2 ...
//
// Anything else gets ERR and a reason.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

type store struct {
	mu   sync.Mutex
	regs map[string]string
	sets map[string]map[string]bool
	log  *os.File
}

// apply changes the state by one logged line; it is also the replay.
func (s *store) apply(words []string) {
	switch words[0] {
	case "SET":
		s.regs[words[1]] = words[2]
	case "SADD":
		if s.sets[words[1]] == nil {
			s.sets[words[1]] = map[string]bool{}
		}
		s.sets[words[1]][words[2]] = true
	}
}

// commit logs a change and syncs it before it is applied and answered.
func (s *store) commit(words []string) error {
	// The closing "." tells a whole line from one a kill tore.
	if _, err := s.log.WriteString(strings.Join(words, " ") + " .\n"); err != nil {
		return err
	}
	if err := s.log.Sync(); err != nil {
		return err
	}
	s.apply(words)
	return nil
}

func (s *store) handle(line string) string {
	w := strings.Fields(line)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case len(w) == 2 && w[0] == "GET":
		if v, ok := s.regs[w[1]]; ok {
			return "VALUE " + v
		}
		return "NONE"
	case len(w) == 3 && (w[0] == "SET" || w[0] == "SADD"):
		if err := s.commit(w); err != nil {
			return "ERR " + err.Error()
		}
		return "OK"
	case len(w) == 4 && w[0] == "CAS":
		v, ok := s.regs[w[1]]
		if (w[2] == "-" && ok) || (w[2] != "-" && (!ok || v != w[2])) {
			return "MISMATCH"
		}
		if err := s.commit([]string{"SET", w[1], w[3]}); err != nil {
			return "ERR " + err.Error()
		}
		return "OK"
	case len(w) == 2 && w[0] == "SMEMBERS":
		var out []string
		for e := range s.sets[w[1]] {
			out = append(out, e)
		}
		sort.Strings(out)
		return strings.TrimSpace("MEMBERS " + strings.Join(out, " "))
	}
	return "ERR unknown request"
}

func main() {
	listen := flag.String("listen", ":7000", "address to serve")
	data := flag.String("data", ".", "directory of the log")
	flag.Parse()
	s := &store{regs: map[string]string{}, sets: map[string]map[string]bool{}}
	if err := os.MkdirAll(*data, 0o755); err != nil {
		log.Fatal(err)
	}
	path := filepath.Join(*data, "changes.log")
	if b, err := os.ReadFile(path); err == nil {
		lines := strings.Split(string(b), "\n")
		for _, l := range lines {
			// A torn last line (a kill mid-write) was never answered: skip it.
			if w := strings.Fields(l); len(w) == 4 && w[3] == "." {
				s.apply(w[:3])
			}
		}
		log.Printf("replaying log: %d lines", len(lines))
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		log.Fatal(err)
	}
	s.log = f
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("listening on %s", ln.Addr())
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go func() {
			defer c.Close()
			r := bufio.NewScanner(c)
			for r.Scan() {
				if _, err := fmt.Fprintln(c, s.handle(r.Text())); err != nil {
					return
				}
			}
		}()
	}
}
