package history

// DiskEffect is what a disk fault did to one node's data directory: the
// files and names a power loss dropped, the bytes an offline fault
// changed, the files a snapshot saved.
type DiskEffect struct {
	Node string `json:"node"`
	// Lost are the files a power loss dropped changes of, one each.
	Lost []DiskLoss `json:"lost,omitempty"`
	// Names are the changes to names a power loss undid, newest first, in
	// words ("create member/wal/0.tmp").
	Names []string `json:"names,omitempty"`
	// Changes are what an offline fault (bit flips, truncation, a
	// rollback) did, one per change.
	Changes []DiskChange `json:"changes,omitempty"`
	// Saved are the files a snapshot saved, by path.
	Saved []string `json:"saved,omitempty"`
	// Error is what could not be done.
	Error string `json:"error,omitempty"`
}

// DiskLoss is what a power loss dropped from one file: the changes since
// its last fsync (writes, truncations, fallocates) and the bytes they
// carried, and its size before and after.
type DiskLoss struct {
	Path       string `json:"path"`
	Writes     int    `json:"writes"`
	Bytes      int64  `json:"bytes"`
	SizeBefore int64  `json:"size_before"`
	SizeAfter  int64  `json:"size_after"`
	Error      string `json:"error,omitempty"`
}

// DiskChange is one change an offline fault made to a file: a bit flip
// (the byte at Offset went from Old to New, bit Bit flipped), or a
// truncation, restore or removal (the size went from OldSize to NewSize;
// -1 is no file).
type DiskChange struct {
	Path    string `json:"path"`
	Kind    string `json:"kind"`
	Offset  int64  `json:"offset,omitempty"`
	Bit     int    `json:"bit,omitempty"`
	Old     int    `json:"old,omitempty"`
	New     int    `json:"new,omitempty"`
	OldSize int64  `json:"old_size,omitempty"`
	NewSize int64  `json:"new_size,omitempty"`
}
