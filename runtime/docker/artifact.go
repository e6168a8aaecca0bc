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
	if art.Dockerfile != "" {
		return dockerfileImage(art)
	}
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
			files, err := contextFiles(art.Root, "root/")
			if err != nil {
				return nil, fmt.Errorf("the %s root: %w", art.Name, err)
			}
			files["Dockerfile"] = File{Data: []byte(dockerfile)}
			return files, nil
		},
	}
}

// dockerfileImage is the recipe of the image a team's own Dockerfile
// builds, with the files of its directory as the context. The lab adds
// one line: the entry point, the command's first word, so that the node's
// arguments follow it as they do for every other image.
func dockerfileImage(art runtime.Artifact) Image {
	dir := filepath.Dir(art.Dockerfile)
	return Image{
		Name:    "lab-" + art.Name,
		Content: art.Content,
		Context: func(ctx context.Context) (map[string]File, error) {
			files, err := contextFiles(dir, "")
			if err != nil {
				return nil, fmt.Errorf("the %s build context: %w", art.Name, err)
			}
			df, err := os.ReadFile(art.Dockerfile)
			if err != nil {
				return nil, fmt.Errorf("the %s Dockerfile: %w", art.Name, err)
			}
			df = append(df, fmt.Sprintf("\nENTRYPOINT [%q]\n", art.Binary)...)
			files["Dockerfile"] = File{Data: df}
			return files, nil
		},
	}
}

// contextFiles are the files, links and directories under dir, named by
// prefix and their path relative to dir, with their modes.
func contextFiles(dir, prefix string) (map[string]File, error) {
	files := map[string]File{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." {
			return nil
		}
		name := prefix + filepath.ToSlash(rel)
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
	return files, err
}
