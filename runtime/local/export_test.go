package local

// UseMarkerRoot moves the markers to dir until the returned func is called,
// so that a test's Cleanup("") sees only the test's own runs and never
// removes a run another process on the machine has going.
func UseMarkerRoot(dir string) (restore func()) {
	old := markerRoot
	markerRoot = dir
	return func() { markerRoot = old }
}

// WithoutFreezer makes r pause with SIGSTOP, as on a machine without the
// cgroup v2 freezer. Call it before Start.
func WithoutFreezer(r *Runtime) { r.cgroup = "" }
