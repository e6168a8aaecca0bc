package main

import (
	"os"
	"testing"
)

// TestMain lets a test run the lab as a separate process (to send it
// signals): with LAB_TEST_AS_LAB set, the test binary is the lab.
func TestMain(m *testing.M) {
	if os.Getenv("LAB_TEST_AS_LAB") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}
