// Package runner wires one run of a scenario, from the image build to the
// report, so that `lab run` and `lab suite` share it.
//
// The phases of a run, each bounded by a deadline:
//
//  1. resolve the scenario (pick and record a seed if it has none), make the
//     run directory store/<scenario>/<timestamp>/ and point store/latest at
//     it, write scenario.yaml;
//  2. check the machine (Docker reachable, root for netlink faults), build
//     the node image if its content changed;
//  3. start the cluster and wait until every node is ready;
//  4. run the workload for the time limit while the nemesis injects the
//     scheduled faults, then for the recovery period, all recorded in
//     history.jsonl as it happens;
//  5. final reads through every node;
//  6. save node logs, remove the cluster (unless kept);
//  7. check the history and write results.json, history.html and the
//     reports.
//
// Every fault is healed on every path out of phase 4: at its scheduled end,
// when the run's context ends (Ctrl-C, SIGTERM), in a defer if anything
// panics, always with a context the run's cancellation cannot end. An
// interrupted run still checks and reports what it recorded.
package runner
