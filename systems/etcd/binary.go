package etcd

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/lab-chaos/lab/cluster"
	"github.com/lab-chaos/lab/systems"
)

var (
	_ systems.Binaries   = (*Etcd)(nil)
	_ systems.LocalNodes = (*Etcd)(nil)
)

// Binary returns the path of the static etcd server, for runtimes that run
// nodes as plain processes. It is built once with the same recipe as the
// image, into os.UserCacheDir()/lab/etcd-<content hash>/etcd, and reused
// from there: a second call, or a second run, does not rebuild.
func (e *Etcd) Binary(ctx context.Context) (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("etcd binary: no cache directory: %w", err)
	}
	dir := filepath.Join(cache, "lab", "etcd-"+contentHash()[:16])
	path := filepath.Join(dir, "etcd")
	if st, err := os.Stat(path); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
		return path, nil
	}
	bin, err := buildServer(ctx, e.BuildOutput)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("etcd binary: %w", err)
	}
	// Written beside and renamed into place, so that a concurrent or an
	// interrupted build never leaves a partial binary at path.
	tmp, err := os.CreateTemp(dir, "etcd-*.tmp")
	if err != nil {
		return "", fmt.Errorf("etcd binary: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(bin); err != nil {
		tmp.Close()
		return "", fmt.Errorf("etcd binary: %w", err)
	}
	if err := tmp.Chmod(0o755); err != nil {
		tmp.Close()
		return "", fmt.Errorf("etcd binary: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("etcd binary: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", fmt.Errorf("etcd binary: %w", err)
	}
	return path, nil
}

// LocalNodes is [Etcd.Nodes] for a runtime without images: each node keeps
// its data in dataDir(node) instead of /data, since all nodes share the
// host's file system.
func (e *Etcd) LocalNodes(peers []systems.Peer, token string, dataDir func(node string) string) []cluster.NodeSpec {
	specs := e.Nodes("", peers, token)
	for i := range specs {
		for j := 0; j+1 < len(specs[i].Cmd); j++ {
			if specs[i].Cmd[j] == "--data-dir" {
				specs[i].Cmd[j+1] = dataDir(specs[i].Name)
			}
		}
	}
	return specs
}
