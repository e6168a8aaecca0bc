// Package adapter is the lab's side of the client adapter protocol: a team
// whose system the lab does not know gives an executable, in any language,
// that the lab starts once per client, bound to one node, and talks to in
// JSON lines on its stdin and stdout (docs/byo.md).
//
// The package's promise is the lab's: an adapter that dies, hangs, or
// prints something that is not an answer makes that operation an unknown
// outcome (never a failure, never a crash of the lab), and the next
// operation starts a fresh adapter.
package adapter
