package systems

import "context"

// MemberState is what one member of a replicated store holds at one
// revision, read from that member alone.
type MemberState struct {
	// Revision is the revision the state was read at: the same for every
	// member of one [Members.MemberStates] call.
	Revision int64 `json:"revision"`
	// Hash is the member's own hash of its key space at Revision (etcd's
	// HashKV).
	Hash uint32 `json:"hash"`
	// KVs are the member's keys and values at Revision.
	KVs map[string]string `json:"kvs"`
}

// Members is a replicated store whose members can each be read on their
// own, so that a member that silently diverged is seen: reads through
// consensus would hide it.
type Members interface {
	// MemberStates reads every peer's state at one revision that every
	// peer has applied, in the order of peers; errs[i] is set where peer i
	// could not be read.
	MemberStates(ctx context.Context, peers []Peer) (states []MemberState, errs []error)
}

// Revisions is a store whose members each tell the revision they have
// applied, asked one member at a time. Watched through a run, a revision
// that goes backwards on a member means it forgot what it had applied.
type Revisions interface {
	// RevisionReader opens a way to ask peer its revision again and again;
	// the caller closes it.
	RevisionReader(ctx context.Context, peer Peer) (RevisionReader, error)
}

// RevisionReader asks one member its applied revision.
type RevisionReader interface {
	Revision(ctx context.Context) (int64, error)
	Close() error
}
