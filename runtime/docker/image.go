package docker

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/errdefs"
)

// Image is a recipe for a locally built image.
type Image struct {
	// Name is the repository part of the tag, such as "lab-etcd".
	Name string
	// Content is a hash of every input of the build; it becomes the tag and
	// the lab.content label, so a changed input gives a new image and an
	// unchanged one is never rebuilt.
	Content string
	// Context produces the build context (a Dockerfile and what it copies),
	// called only when the image is missing.
	Context func(ctx context.Context) (map[string]File, error)
}

// File is one file of a build context: a regular file, or a symlink to
// Link, or a directory.
type File struct {
	Data []byte
	Mode int64
	Link string
	Dir  bool
}

// Tag is the image reference, name:content-prefix.
func (im Image) Tag() string {
	c := im.Content
	if len(c) > 16 {
		c = c[:16]
	}
	return im.Name + ":" + c
}

// EnsureImage builds the image unless one with the same content hash exists.
// It reports whether it built, and writes build output to progress.
func EnsureImage(ctx context.Context, d Docker, im Image, progress io.Writer) (built bool, err error) {
	tag := im.Tag()
	insp, err := d.ImageInspect(ctx, tag)
	if err == nil && insp.Config != nil && insp.Config.Labels[LabelContent] == im.Content {
		return false, nil
	}
	if err != nil && !errdefs.IsNotFound(err) {
		return false, fmt.Errorf("inspect image %s: %w", tag, err)
	}
	files, err := im.Context(ctx)
	if err != nil {
		return false, fmt.Errorf("build context of %s: %w", tag, err)
	}
	tarball, err := tarFiles(files)
	if err != nil {
		return false, err
	}
	resp, err := d.ImageBuild(ctx, bytes.NewReader(tarball), build.ImageBuildOptions{
		Tags:        []string{tag},
		Labels:      map[string]string{LabelImage: im.Name, LabelContent: im.Content},
		Remove:      true,
		ForceRemove: true,
		PullParent:  false,
		Version:     build.BuilderV1,
	})
	if err != nil {
		return false, fmt.Errorf("build image %s: %w", tag, err)
	}
	defer resp.Body.Close()
	if err := followBuild(resp.Body, progress); err != nil {
		return false, fmt.Errorf("build image %s: %w", tag, err)
	}
	return true, nil
}

// followBuild reads the engine's JSON message stream and returns the first
// error it reports.
func followBuild(r io.Reader, progress io.Writer) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var msg struct {
			Stream      string `json:"stream"`
			Error       string `json:"error"`
			ErrorDetail struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := json.Unmarshal(sc.Bytes(), &msg); err != nil {
			continue
		}
		if msg.Error != "" {
			return fmt.Errorf("%s", strings.TrimSpace(msg.Error))
		}
		if msg.Stream != "" && progress != nil {
			io.WriteString(progress, msg.Stream)
		}
	}
	return sc.Err()
}

func tarFiles(files map[string]File) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		f := files[n]
		mode := f.Mode
		if mode == 0 {
			mode = 0o644
		}
		h := &tar.Header{Name: n, Mode: mode, Size: int64(len(f.Data))}
		switch {
		case f.Link != "":
			h.Typeflag, h.Linkname, h.Size, h.Mode = tar.TypeSymlink, f.Link, 0, 0o777
		case f.Dir:
			h.Typeflag, h.Size = tar.TypeDir, 0
			if f.Mode == 0 {
				h.Mode = 0o755
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.Data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
