// Package gobuild builds a Go program of a chosen module version into the
// user's cache, once, by content: a small wrapper module that requires the
// program's module is compiled into a static linux/amd64 binary under
// os.UserCacheDir()/lab/<name>-<version>-<hash>/, where the hash covers
// every input of the build, and every later run finds it there.
//
// It also asks the Go module proxy which versions of a module it serves,
// and names the versions nearby one it does not, for the systems that
// refuse such a version before anything starts.
//
// What a system's build module holds, and which versions it accepts, stay
// with the system (systems/etcd, systems/nats).
package gobuild
