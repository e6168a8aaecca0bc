package runner

import (
	"errors"

	"github.com/lab-chaos/lab/systems"
)

// newLocalBackend is the runtime without Docker: not wired yet.
func newLocalBackend(sys systems.Registers) (backend, error) {
	return nil, errors.New("runtime local is not available in this build")
}
