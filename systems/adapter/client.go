package adapter

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/lab-chaos/lab/systems"
)

// Command is how to start an adapter.
type Command struct {
	Path string
	Args []string
	Env  []string
	Dir  string
}

// maxLine bounds one reply, so a runaway adapter cannot exhaust memory.
const maxLine = 1 << 20

// request is one line to the adapter.
type request struct {
	ID    uint64 `json:"id"`
	F     string `json:"f"`
	Key   string `json:"key,omitempty"`
	Value any    `json:"value,omitempty"`
}

// reply is one line from the adapter.
type reply struct {
	ID    *uint64         `json:"id"`
	Type  string          `json:"type"`
	Value json.RawMessage `json:"value"`
	Error string          `json:"error"`
}

// Client is one client's adapter: it starts the process on first use, and
// a new one after a broken one. One operation at a time.
type Client struct {
	cmd    Command
	stderr io.Writer

	mu     sync.Mutex
	proc   *process
	nextID uint64
}

// NewClient returns a client that starts cmd when first used; the
// adapter's stderr goes to stderr, each line prefixed.
func NewClient(cmd Command, stderr io.Writer) *Client {
	if stderr == nil {
		stderr = io.Discard
	}
	return &Client{cmd: cmd, stderr: stderr}
}

// process is one running adapter.
type process struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan line
	// exited is closed once the process has been reaped.
	exited chan struct{}
}

type line struct {
	data []byte
	err  error
}

func (c *Client) start() (*process, error) {
	cmd := exec.Command(c.cmd.Path, c.cmd.Args...)
	cmd.Env = c.cmd.Env
	cmd.Dir = c.cmd.Dir
	// Its own process group, so a kill reaches whatever it started.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &process{cmd: cmd, stdin: stdin, lines: make(chan line, 1), exited: make(chan struct{})}
	var readers sync.WaitGroup
	readers.Add(2)
	go func() {
		defer readers.Done()
		defer close(p.lines)
		r := bufio.NewReaderSize(stdout, 64<<10)
		for {
			b, err := readLine(r)
			p.lines <- line{b, err}
			if err != nil {
				// Drain the rest so the adapter never blocks on a full pipe.
				io.Copy(io.Discard, stdout)
				return
			}
		}
	}()
	go func() {
		defer readers.Done()
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), maxLine)
		for sc.Scan() {
			fmt.Fprintf(c.stderr, "adapter: %s\n", sc.Bytes())
		}
		io.Copy(io.Discard, stderr)
	}()
	go func() {
		readers.Wait()
		cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// readLine reads one line of at most maxLine bytes.
func readLine(r *bufio.Reader) ([]byte, error) {
	var buf []byte
	for {
		chunk, err := r.ReadSlice('\n')
		buf = append(buf, chunk...)
		if len(buf) > maxLine {
			return nil, fmt.Errorf("a reply longer than %d bytes", maxLine)
		}
		switch {
		case err == nil:
			return bytes.TrimRight(buf, "\r\n"), nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			return nil, errors.New("the adapter exited")
		default:
			return nil, err
		}
	}
}

// kill ends the process group and waits until it is reaped.
func (p *process) kill() {
	if p.cmd.Process != nil {
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	}
	p.stdin.Close()
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
	}
}

// unknown is an operation whose outcome is unknown: the adapter was asked
// and did not answer.
func unknown(format string, args ...any) error {
	return fmt.Errorf("adapter: "+format, args...)
}

// Do sends one request and returns the value of an ok reply. A fail reply
// is a [systems.Definite] error; anything else that is not an ok is an
// unknown outcome, and a broken adapter is replaced before the next call.
func (c *Client) Do(ctx context.Context, f, key string, value any) (json.RawMessage, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.ensure(); err != nil {
		// Nothing of the operation was sent: it did not happen.
		return nil, systems.Definite(err)
	}
	if err := ctx.Err(); err != nil {
		return nil, systems.Definite(fmt.Errorf("adapter %s: not ready before the operation's deadline; the operation was not sent", c.cmd.Path))
	}
	return c.send(ctx, f, key, value)
}

// StartTimeout bounds an adapter's start: the time until it answers its
// first ping. It is not the operation's timeout: an interpreter can take
// a second to start on a loaded machine, and an operation whose adapter
// is killed for that would start the next one just as slowly, for ever.
const StartTimeout = 20 * time.Second

// Start starts the adapter now, unless it runs, and waits for its answer
// to a ping: a client opens with it, so the first operation does not pay
// for the start.
func (c *Client) Start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ensure()
}

// ensure starts an adapter when none runs and pings it.
func (c *Client) ensure() error {
	if c.proc != nil {
		return nil
	}
	p, err := c.start()
	if err != nil {
		return fmt.Errorf("adapter %s: cannot start: %w", c.cmd.Path, err)
	}
	c.proc = p
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	defer cancel()
	if _, err := c.send(ctx, "ping", "", nil); err != nil {
		c.broken()
		return fmt.Errorf("adapter %s: no answer to its first ping: %w", c.cmd.Path, err)
	}
	return nil
}

// send writes one request to the running adapter and reads its reply.
func (c *Client) send(ctx context.Context, f, key string, value any) (json.RawMessage, error) {
	c.nextID++
	id := c.nextID
	msg, err := json.Marshal(request{ID: id, F: f, Key: key, Value: value})
	if err != nil {
		return nil, systems.Definite(err)
	}
	p := c.proc
	if _, err := p.stdin.Write(append(msg, '\n')); err != nil {
		c.broken()
		return nil, unknown("write to the adapter: %v", err)
	}
	var l line
	var ok bool
	select {
	case l, ok = <-p.lines:
	case <-ctx.Done():
		c.broken()
		return nil, unknown("no answer: %v", ctx.Err())
	}
	if !ok || l.err != nil {
		c.broken()
		if !ok {
			return nil, unknown("the adapter exited")
		}
		return nil, unknown("%v", l.err)
	}
	var r reply
	if err := json.Unmarshal(l.data, &r); err != nil {
		c.broken()
		return nil, unknown("not an answer: %q", clip(l.data))
	}
	if r.ID == nil || *r.ID != id {
		c.broken()
		return nil, unknown("an answer to another request (id %v, want %d): %q", idOf(r.ID), id, clip(l.data))
	}
	switch r.Type {
	case "ok":
		return r.Value, nil
	case "fail":
		return nil, systems.Definite(fmt.Errorf("%s", orNone(r.Error)))
	case "info":
		return nil, fmt.Errorf("%s", orNone(r.Error))
	}
	c.broken()
	return nil, unknown("reply type %q is none of ok, fail, info", clip([]byte(r.Type)))
}

// broken kills the adapter; the next call starts another.
func (c *Client) broken() {
	if c.proc != nil {
		c.proc.kill()
		c.proc = nil
	}
}

// badShape is an ok whose value is not of the shape the operation wants:
// the adapter is confused, so it is replaced, and the outcome is unknown.
func (c *Client) badShape(format string, args ...any) error {
	c.mu.Lock()
	c.broken()
	c.mu.Unlock()
	return unknown(format, args...)
}

// Close kills the adapter, if one runs.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.broken()
	return nil
}

func idOf(p *uint64) any {
	if p == nil {
		return "none"
	}
	return *p
}

func orNone(s string) string {
	if s == "" {
		return "(the adapter gave no reason)"
	}
	return s
}

func clip(b []byte) string {
	if len(b) > 120 {
		return string(b[:120]) + "…"
	}
	return string(b)
}

var _ systems.RegisterClient = (*Client)(nil)

// Read reads a register: the value, or found=false for null.
func (c *Client) Read(ctx context.Context, key string) (string, bool, error) {
	v, err := c.Do(ctx, "read", key, nil)
	if err != nil {
		return "", false, err
	}
	if len(v) == 0 || string(v) == "null" {
		return "", false, nil
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		// A read changes nothing, but an answer of the wrong shape is
		// not a value: the outcome is unknown.
		return "", false, c.badShape("read value is not a string or null: %q", clip(v))
	}
	return s, true, nil
}

// Write writes a register.
func (c *Client) Write(ctx context.Context, key, value string) error {
	_, err := c.Do(ctx, "write", key, value)
	return err
}

// CAS swaps key from old (no value when !oldFound) to new; the adapter
// answers ok with true or false.
func (c *Client) CAS(ctx context.Context, key, old string, oldFound bool, new string) (bool, error) {
	from := any(nil)
	if oldFound {
		from = old
	}
	v, err := c.Do(ctx, "cas", key, map[string]any{"from": from, "to": new})
	if err != nil {
		return false, err
	}
	var swapped bool
	if err := json.Unmarshal(v, &swapped); err != nil {
		return false, c.badShape("cas value is not true or false: %q", clip(v))
	}
	return swapped, nil
}

// Add adds element to the set at key.
func (c *Client) Add(ctx context.Context, key, element string) error {
	_, err := c.Do(ctx, "add", key, element)
	return err
}

// ReadSet reads the whole set at key.
func (c *Client) ReadSet(ctx context.Context, key string) ([]string, error) {
	v, err := c.Do(ctx, "read-set", key, nil)
	if err != nil {
		return nil, err
	}
	var out []string
	if len(v) == 0 || string(v) == "null" {
		return nil, nil
	}
	if err := json.Unmarshal(v, &out); err != nil {
		return nil, c.badShape("read-set value is not a list of strings: %q", clip(v))
	}
	return out, nil
}
