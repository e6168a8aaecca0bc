package checker

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/lab-chaos/lab/history"
)

// FuzzCheck feeds any bytes through format detection, the three parsers
// and the checker: no input may crash it, a parse error names a line, and
// a check never ends valid when it was cut short.
func FuzzCheck(f *testing.F) {
	f.Add([]byte(`{"time":1,"process":0,"type":"invoke","f":"write","key":"1","value":3}` + "\n" +
		`{"time":2,"process":0,"type":"ok","f":"write","key":"1","value":3}` + "\n"))
	f.Add([]byte(`{:process 0, :type :invoke, :f :get, :key "0", :value nil}` + "\n" +
		`{:process 0, :type :ok, :f :get, :key "0", :value "x"}`))
	f.Add([]byte("INFO  jepsen.util - 0\t:invoke\t:cas\t[1 2]\nINFO  jepsen.util - 0\t:fail\t:cas\t[1 2]\n"))
	f.Add([]byte("[{:process 0 :type :invoke :f :add :value 1} {:process 0 :type :ok :f :add :value 1} {:process 1 :type :ok :f :read :value #{1 1}}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		events, _, err := Parse(data, "fuzz", "")
		if err != nil {
			var se *history.SyntaxError
			if errors.As(err, &se) && se.Line < 1 {
				t.Fatalf("syntax error without a line: %v", err)
			}
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		res, err := Check(ctx, events, Options{Model: InferModel(events)})
		if err != nil {
			return
		}
		if res.Verdict == Invalid && len(res.Anomalies) == 0 {
			t.Fatalf("invalid without an anomaly")
		}
	})
}
