package byo

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/lab-chaos/lab/internal/debroot"
	"github.com/lab-chaos/lab/runtime"
)

// rootArtifact builds (or finds in the cache) the node's root from the
// file's Debian packages; the entry point is the command's first word.
func (s *Instance) rootArtifact(ctx context.Context) (runtime.Artifact, bool, error) {
	d := s.file.Files.Debian
	cache, err := os.UserCacheDir()
	if err != nil {
		return runtime.Artifact{}, false, fmt.Errorf("no cache directory for the node's root: %w", err)
	}
	spec := debroot.Spec{Packages: d.Packages, Binaries: d.Binaries, Files: d.Keep}
	root, built, err := debroot.Build(ctx, spec, filepath.Join(cache, "lab", "rootfs"), s.buildOutput)
	if err != nil {
		return runtime.Artifact{}, false, fmt.Errorf("%s: files.debian: %w", s.file.Path, err)
	}
	s.mu.Lock()
	s.versions = root.Versions
	s.mu.Unlock()
	return runtime.Artifact{Name: s.file.Name, Version: s.Version(), Binary: s.entry(), Root: root.Dir, Content: root.Content}, built, nil
}
