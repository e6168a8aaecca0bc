package systems

import "context"

// Admin is a system with maintenance operations that a scenario can run
// as faults, at a time in its schedule (etcd's compaction,
// defragmentation and snapshots): operations every production cluster
// runs, and that bugs hide behind.
type Admin interface {
	// AdminOps names the operations the system can run.
	AdminOps() []string
	// Admin runs op through node and says in one line what it did. arg is
	// the operation's one parameter (for a compaction, how many revisions
	// behind the current one), 0 when it has none.
	Admin(ctx context.Context, op string, node Peer, arg int64) (string, error)
}
