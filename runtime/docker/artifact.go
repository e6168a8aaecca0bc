package docker

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"

	"github.com/lab-chaos/lab/runtime"
)

// ArtifactImage is the recipe of the FROM scratch image that holds an
// artifact's static binary as its entry point. Its tag comes from the
// artifact's content hash, so one binary gives one image, built once.
func ArtifactImage(art runtime.Artifact) Image {
	if art.Root != "" {
		return rootImage(art)
	}
	bin := path.Base(art.Binary)
	dockerfile := fmt.Sprintf("FROM scratch\nCOPY %s /usr/local/bin/%s\nENTRYPOINT [\"/usr/local/bin/%s\"]\n", bin, bin, bin)
	return Image{
		Name:    "lab-" + art.Name,
		Content: art.Content,
		Context: func(ctx context.Context) (map[string]File, error) {
			data, err := os.ReadFile(art.Binary)
			if err != nil {
				return nil, fmt.Errorf("the %s binary: %w", art.Name, err)
			}
			return map[string]File{
				"Dockerfile": {Data: []byte(dockerfile)},
				bin:          {Data: data, Mode: 0o755},
			}, nil
		},
	}
}

// rootImage is the recipe of the FROM scratch image that holds a whole
// root file system (a system built from Debian packages), entered at the
// artifact's binary, a path inside the root.
func rootImage(art runtime.Artifact) Image {
	dockerfile := fmt.Sprintf("FROM scratch\nCOPY root/ /\nENTRYPOINT [%q]\n", art.Binary)
	return Image{
		Name:    "lab-" + art.Name,
		Content: art.Content,
		Context: func(ctx context.Context) (map[string]File, error) {
			files := map[string]File{"Dockerfile": {Data: []byte(dockerfile)}}
			err := filepath.WalkDir(art.Root, func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				rel, _ := filepath.Rel(art.Root, p)
				if rel == "." {
					return nil
				}
				name := "root/" + filepath.ToSlash(rel)
				info, err := d.Info()
				if err != nil {
					return err
				}
				switch {
				case d.Type()&fs.ModeSymlink != 0:
					t, err := os.Readlink(p)
					if err != nil {
						return err
					}
					files[name] = File{Link: t}
				case d.IsDir():
					files[name] = File{Dir: true, Mode: int64(info.Mode().Perm() | info.Mode()&fs.ModeSticky)}
				default:
					data, err := os.ReadFile(p)
					if err != nil {
						return err
					}
					files[name] = File{Data: data, Mode: int64(info.Mode().Perm())}
				}
				return nil
			})
			if err != nil {
				return nil, fmt.Errorf("the %s root: %w", art.Name, err)
			}
			return files, nil
		},
	}
}
