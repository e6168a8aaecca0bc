// Package checker judges a history: valid, invalid or unknown, with the
// evidence behind the verdict in plain words.
//
// # Lifecycle of a check
//
// [Check] takes the events of one run (or of a foreign history read by
// [Load]) and:
//
//  1. pairs invocations with completions ([history.Pair]) and counts them;
//     a history without times is ordered by event position;
//  2. splits the operations by key: keys are independent, so each is a
//     partition checked on its own;
//  3. turns each key's operations into a typed model's inputs and outputs
//     (register, cas-register, kv, mutex; set is an account, not a
//     search), applying the sound reductions for unknown outcomes: failed
//     operations and unknown reads are dropped, failed cas that could never
//     have matched are dropped, unknown writes nobody observed are dropped,
//     and unknown writes somebody observed are given the observer's
//     completion as their return time;
//  4. settles what it can without a search: a direct refutation (a stale
//     read: the value read had been overwritten by a write that completed
//     before the read began), for read/write keys the O(n log n) zone
//     decision, or a linearization built greedily and verified by replay;
//  5. runs porcupine on the rest, one key per worker, largest first; the
//     first invalid key stops the others; a deadline or cancellation makes
//     the verdict [Unknown], never [Valid];
//  6. explains every invalid key: the operation that cannot be placed and
//     the operations that make it impossible, with times ([Anomaly]).
//
// [WriteVisualization] draws porcupine's page for the failing keys, cut to
// a bounded window, with the fault windows as annotations.
//
// Each reduction and decision has its precondition checked per key (most
// need written values to be unique) and is proven in docs/checking.md; the
// tests compare every one against the plain search on thousands of random
// histories. Models are typed Step functions with a thin adapter into
// porcupine.Model.
//
// The package imports history and porcupine, nothing else of the lab.
package checker
