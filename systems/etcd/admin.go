package etcd

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/lab-chaos/lab/systems"
)

var _ systems.Admin = (*Etcd)(nil)

// AdminOps: etcd's maintenance, as operators run it.
func (*Etcd) AdminOps() []string { return []string{"compact", "defrag", "snapshot"} }

// adminTimeout bounds one maintenance call: a defragmentation blocks the
// member for as long as it rewrites its database.
const adminTimeout = 60 * time.Second

// Admin runs op through node:
//   - compact: compacts the key space at the current revision less arg,
//     physically (the call returns once the member has removed the old
//     revisions). A revision already compacted is said, not an error.
//   - defrag: defragments node's backend, with its database size before
//     and after.
//   - snapshot: streams a snapshot of node's database, with its size and
//     hash.
func (*Etcd) Admin(ctx context.Context, op string, node systems.Peer, arg int64) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, adminTimeout)
	defer cancel()
	c, err := newClient(ctx, node.Addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	ep := endpoint(node.Addr)
	switch op {
	case "compact":
		resp, err := c.Get(ctx, "lab-compaction-probe", clientv3.WithSerializable())
		if err != nil {
			return "", err
		}
		cur := resp.Header.Revision
		rev := cur - arg
		if rev < 1 {
			return fmt.Sprintf("nothing to compact through %s: revision %d is less than %d", node.Name, cur, arg), nil
		}
		t := time.Now()
		_, err = c.Compact(ctx, rev, clientv3.WithCompactPhysical())
		if errors.Is(err, rpctypes.ErrCompacted) {
			return fmt.Sprintf("revision %d was already compacted (current %d, through %s)", rev, cur, node.Name), nil
		}
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("compacted at revision %d (current %d) through %s in %s", rev, cur, node.Name, time.Since(t).Round(time.Millisecond)), nil
	case "defrag":
		before, err := c.Status(ctx, ep)
		if err != nil {
			return "", err
		}
		t := time.Now()
		if _, err := c.Defragment(ctx, ep); err != nil {
			return "", err
		}
		took := time.Since(t).Round(time.Millisecond)
		after, err := c.Status(ctx, ep)
		if err != nil {
			return fmt.Sprintf("defragmented %s in %s (database %d bytes before)", node.Name, took, before.DbSize), nil
		}
		return fmt.Sprintf("defragmented %s in %s: database %d bytes before, %d after", node.Name, took, before.DbSize, after.DbSize), nil
	case "snapshot":
		t := time.Now()
		rc, err := c.Snapshot(ctx)
		if err != nil {
			return "", err
		}
		defer rc.Close()
		h := sha256.New()
		n, err := io.Copy(h, rc)
		if err != nil {
			return "", fmt.Errorf("snapshot of %s after %d bytes: %w", node.Name, n, err)
		}
		return fmt.Sprintf("%s streamed a snapshot of %d bytes in %s (sha256 %x)", node.Name, n, time.Since(t).Round(time.Millisecond), h.Sum(nil)[:8]), nil
	}
	return "", fmt.Errorf("etcd has no maintenance operation %q (it has compact, defrag, snapshot)", op)
}
