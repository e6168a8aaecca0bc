package history

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

func TestReadEDN(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // events rendered as process/type/f/key/value/time/error, ";"-joined
	}{
		{"one map per line", `{:process 0, :type :invoke, :f :append, :key "0", :value "x 0 0 y"}
{:process 0, :type :ok, :f :append, :key "0", :value "x 0 0 y"}`,
			`0/invoke/append/0/"x 0 0 y"/0/;0/ok/append/0/"x 0 0 y"/0/`},
		{"vector, keys in any order, comments", `; a Jepsen history
[{:type :invoke :f :cas :value [1 2] :process 3 :time 10}
 {:value [1 2], :time 20, :f :cas, :type :fail, :process 3, :error :mismatch} ; failed
]`,
			`3/invoke/cas//[1,2]/10/;3/fail/cas//[1,2]/20/mismatch`},
		{"list and nemesis", `({:process :nemesis :type :info :f :start :value nil}
  {:process :nemesis :type :info :f :start :value "cut"}
  {:process 1 :type :invoke :f :read :value nil :index 7}
  {:process :nemesis :type :info :f :stop}
  {:process :nemesis :type :info :f :stop})`,
			`nemesis/info/fault-start//null/0/;nemesis/info/start//"cut"/0/;1/invoke/read//null/0/;nemesis/info/fault-end//null/0/;nemesis/info/stop//null/0/`},
		{"set values and integer keys", `{:process 2 :type :ok :f :read :key 5 :value #{1 2}}`,
			`2/ok/read/5/[1,2]/0/`},
		{"discard", `#_{:bad 1} {:process 0 :type :invoke :f :read}`, `0/invoke/read//null/0/`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := ReadEDN(strings.NewReader(tt.in), "h.edn")
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range ev {
				v := string(e.Value)
				if v == "" {
					v = "null"
				}
				got = append(got, strings.Join([]string{e.Process.String(), string(e.Type), e.F, e.Key, v, itoa(e.Time), e.Error}, "/"))
			}
			if g := strings.Join(got, ";"); g != tt.want {
				t.Errorf("ReadEDN=%s\nwant     %s", g, tt.want)
			}
		})
	}
}

func itoa(n int64) string { return Value(IntValue(n)).String() }

func TestReadEDNErrors(t *testing.T) {
	tests := []struct {
		name, in string
		line     int
		want     string
	}{
		{"missing type", "{:process 0 :f :read}\n", 1, "no :type"},
		{"bad type", "\n\n{:process 0 :type :done :f :read}", 3, ":type must be one of"},
		{"bad process", "{:process -1 :type :ok :f :read}", 1, ":process must be"},
		{"unterminated map", "{:process 0 :type :ok\n:f :read", 2, "unexpected end of file"},
		{"not a map", "[1 2]", 1, "expected an operation map"},
		{"odd map", "{:process 0 :type}", 1, "key without a value"},
		{"bad string", `{:process 0 :type :ok :f :read :value "abc}`, 1, "unterminated string"},
		{"stray close", "}", 1, "unexpected '}'"},
		{"tag", "#inst \"2020\"", 1, "unsupported tagged value"},
		{"empty f", `{:process 0 :type :invoke :f""}`, 1, ":f must not be empty"},
		{"time missing on one", "{:process 0 :type :invoke :f :read :time 1}\n{:process 0 :type :ok :f :read :value 1}", 2, "has no time, but the event at line 1 has one"},
		{"time only on a later one", "[{:process 0 :type :invoke :f :read}\n{:process 0 :type :ok :f :read :time 5}]", 2, "has a time, but the event at line 1 has none"},
		{"completion before invocation", "{:process 3 :type :invoke :f :read :time 10}\n{:process 3 :type :ok :f :read :value 1 :time 9}", 2, "process 3 completes at time 9, before its invocation at line 1 (time 10)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadEDN(strings.NewReader(tt.in), "h.edn")
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("err=%v, want a *SyntaxError", err)
			}
			if se.File != "h.edn" || se.Line != tt.line || !strings.Contains(se.Msg, tt.want) {
				t.Errorf("err=%v, want h.edn:%d: ...%s...", err, tt.line, tt.want)
			}
		})
	}
}

func FuzzReadEDN(f *testing.F) {
	f.Add([]byte(`{:process 0, :type :invoke, :f :append, :key "0", :value "x 0 0 y"}`))
	f.Add([]byte("[{:type :invoke :f :cas :value [1 2] :process 3 :time 10} ; c\n]"))
	f.Add([]byte(`({:process :nemesis :type :info :f :start :value #{1 "a" :b nil}})`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := ReadEDN(strings.NewReader(string(data)), "f.edn")
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) || se.Line < 1 {
				t.Fatalf("error without a line: %v", err)
			}
			return
		}
		for _, e := range ev {
			if !e.Type.Valid() || e.F == "" && e.Process != Nemesis {
				t.Fatalf("accepted a bad event %+v", e)
			}
		}
	})
}

// TestReadEDNIndependent: jepsen.independent values [k v] become key k and
// value v; a single key's cas values [old new] stay as they are.
func TestReadEDNIndependent(t *testing.T) {
	tests := []struct {
		name, in string
		keys     []string
		values   []string
	}{
		{"independent", `[{:process 0 :type :invoke :f :cas :value [1 [3 6]]} {:process 0 :type :ok :f :cas :value [1 [3 6]]}
 {:process 1 :type :invoke :f :read :value ["a" nil]} {:process 1 :type :ok :f :read :value ["a" 2]}
 {:process 2 :type :invoke :f :write :value [1 7]} {:process 2 :type :info :f :write :value nil}]`,
			// The info completion has no value, so no key: pairing takes
			// the key from the invocation.
			[]string{"1", "1", "a", "a", "1", ""}, []string{"[3,6]", "[3,6]", "nil", "2", "7", "nil"}},
		{"single-key cas", `[{:process 0 :type :invoke :f :cas :value [1 2]} {:process 0 :type :ok :f :cas :value [1 2]}]`,
			[]string{"", ""}, []string{"[1,2]", "[1,2]"}},
		{"plain read", `[{:process 0 :type :invoke :f :write :value [1 2]} {:process 0 :type :ok :f :write :value [1 2]}
 {:process 1 :type :invoke :f :read :value nil} {:process 1 :type :ok :f :read :value [1 2]}]`,
			[]string{"", "", "", ""}, []string{"[1,2]", "[1,2]", "nil", "[1,2]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := ReadEDN(strings.NewReader(tt.in), "i.edn")
			if err != nil {
				t.Fatal(err)
			}
			for i, e := range ev {
				if e.Key != tt.keys[i] || e.Value.String() != tt.values[i] {
					t.Errorf("event %d: key %q value %s, want key %q value %s", i+1, e.Key, e.Value, tt.keys[i], tt.values[i])
				}
			}
		})
	}
}

// TestReadEDNStreams: ReadEDN reads through a window, so a value may span
// reads; small reads (a byte, or half of what is asked) give what the whole
// input gives, on small inputs and on histories large enough to be sized in
// advance (a reader that tells its length) or collected in chunks (one
// that does not), including one whose events get shorter than its first
// sixteenth foretold.
func TestReadEDNStreams(t *testing.T) {
	inputs := []string{
		`{:process 0, :type :invoke, :f :append, :key "0", :value "x 0 0 y"}`,
		"[{:type :invoke :f :cas :value [1 2] :process 3 :time 10}\n{:value [1 2], :time 20, :f :cas, :type :fail, :process 3} ; c\n]",
		`({:process :nemesis :type :info :f :start :value #{1 "a\"b" :b nil}} #_{:x 1} {:process :nemesis :type :info :f :stop})`,
		"{:process 0 :type :ok\n:f :read",
		"[{:process 0 :type :invoke :f :read}\n{:process 0 :type :ok :f :read :time 5}]",
		"[{:process 0 :type :done :f :read} {:process 0 :type :ok :f :read :value \"abc}]",
	}
	history := func(n int, pad func(i int) string) string {
		var b strings.Builder
		b.WriteString("[")
		for i := range n {
			fmt.Fprintf(&b, "{:type :invoke, :f :write, :value [%d %q], :time %d, :process %d, :index %d}\n", i%50, pad(i), 2*i, i%9, 2*i)
			fmt.Fprintf(&b, " {:type :ok, :f :write, :value [%d %q], :time %d, :process %d, :index %d}\n", i%50, pad(i), 2*i+1, i%9, 2*i+1)
		}
		b.WriteString("]")
		return b.String()
	}
	inputs = append(inputs,
		history(20_000, func(int) string { return "v" }),
		history(20_000, func(i int) string {
			if i < 6000 {
				return strings.Repeat("x", 100)
			}
			return ""
		}))
	for i, in := range inputs {
		want, wantErr := ReadEDN(strings.NewReader(in), "s.edn")
		r := iotest.OneByteReader(strings.NewReader(in))
		if len(in) > 1<<20 {
			r = iotest.HalfReader(strings.NewReader(in))
		}
		got, err := ReadEDN(r, "s.edn")
		if fmt.Sprint(err) != fmt.Sprint(wantErr) || !reflect.DeepEqual(got, want) {
			t.Errorf("input %d read in small pieces: %d events, err %v; whole: %d events, err %v", i, len(got), err, len(want), wantErr)
		}
		if i >= len(inputs)-2 && (wantErr != nil || len(want) != 40_000) {
			t.Errorf("input %d: %d events, err %v; want 40000", i, len(want), wantErr)
		}
	}
}
