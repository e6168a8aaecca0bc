package scenarios

import (
	"strings"
	"time"
)

// Duration is a [time.Duration] written in scenario files as a Go duration
// string: "500ms", "10s", "1m30s". A bare number is an error, since its unit
// would be a guess.
type Duration time.Duration

// String formats d like [time.Duration.String], without trailing zero units:
// "1m" rather than "1m0s".
func (d Duration) String() string {
	s := time.Duration(d).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// MarshalText formats d as [Duration.String] does.
func (d Duration) MarshalText() ([]byte, error) {
	return []byte(d.String()), nil
}

// UnmarshalText parses a Go duration string such as "1m30s".
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := time.ParseDuration(string(text))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}
