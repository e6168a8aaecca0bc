// Package probe asks the machine what it can do, so that the lab can say
// plainly which faults will work here and which will not, before a run
// starts (lab doctor) and when a fault is asked for (nemesis).
//
// Every check answers yes or no, with a detail (a version, or the error the
// kernel returned) and one line of what it means for the lab's faults. The
// kernel checks try the real thing: a netem qdisc, an nftables table, an
// NFQUEUE rule, a queue bound over nfnetlink. They do it in a throwaway
// network namespace made for the check and gone after it ([InThrowawayNS]),
// so a probe never touches the host's own network configuration.
//
// Checks are cheap (milliseconds) but not free; [Netem] caches its answer
// for the life of the process, as the kernel does not grow a qdisc while the
// lab runs.
package probe
