package history

import (
	"errors"
	"strings"
	"testing"
)

func TestReadJepsenLog(t *testing.T) {
	in := "2015-01-01 INFO  jepsen.core - starting\n" +
		"INFO  jepsen.util - 0\t:invoke\t:read\tnil\n" +
		"INFO  jepsen.util - 0\t:ok\t:read\t3\n" +
		"INFO  jepsen.util - 2\t:invoke\t:cas\t[3 0]\n" +
		"INFO  jepsen.util - 2\t:info\t:cas\t:timed-out\n" +
		"INFO  jepsen.util - 4 :fail :read :timed-out\n" +
		"INFO  jepsen.util - :nemesis\t:info\t:start\t\"cut\"\n"
	ev, err := ReadJepsenLog(strings.NewReader(in), "etcd.log")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"0 invoke read null ", "0 ok read 3 ", "2 invoke cas [3,0] ", "2 info cas null timed-out", "4 fail read null timed-out", `nemesis info fault-start "cut" `}
	if len(ev) != len(want) {
		t.Fatalf("%d events, want %d", len(ev), len(want))
	}
	for i, e := range ev {
		got := strings.Join([]string{e.Process.String(), string(e.Type), e.F, string(e.Value), e.Error}, " ")
		if got != want[i] {
			t.Errorf("event %d = %q, want %q", i, got, want[i])
		}
	}
}

func TestReadJepsenLogErrors(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"bad process", "INFO  jepsen.util - x\t:ok\t:read\t1", "process \"x\""},
		{"bad type", "INFO  jepsen.util - 1\tok\t:read\t1", "type \"ok\""},
		{"few fields", "INFO  jepsen.util - 1\t:ok", "too few fields"},
		{"bad value", "INFO  jepsen.util - 1\t:ok\t:read\t[1 2", "unexpected end"},
		{"trailing", "INFO  jepsen.util - 1\t:ok\t:read\t1 2", "unexpected text after the value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadJepsenLog(strings.NewReader("INFO  jepsen.core - x\n"+tt.in+"\n"), "e.log")
			var se *SyntaxError
			if !errors.As(err, &se) || se.Line != 2 || !strings.Contains(se.Msg, tt.want) {
				t.Errorf("err=%v, want e.log:2: ...%s...", err, tt.want)
			}
		})
	}
}

func FuzzReadJepsenLog(f *testing.F) {
	f.Add([]byte("INFO  jepsen.util - 0\t:invoke\t:read\tnil\nINFO  jepsen.util - 0\t:ok\t:read\t3\n"))
	f.Add([]byte("INFO  jepsen.util - 2\t:invoke\t:cas\t[3 0]\nINFO  jepsen.util - 2\t:info\t:cas\t:timed-out\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := ReadJepsenLog(strings.NewReader(string(data)), "f.log")
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) || se.Line < 1 {
				t.Fatalf("error without a line: %v", err)
			}
			return
		}
		for _, e := range ev {
			if !e.Type.Valid() || e.F == "" {
				t.Fatalf("accepted a bad event %+v", e)
			}
		}
	})
}
