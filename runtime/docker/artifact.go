package docker

import (
	"context"
	"fmt"
	"os"
	"path"

	"github.com/lab-chaos/lab/runtime"
)

// ArtifactImage is the recipe of the FROM scratch image that holds an
// artifact's static binary as its entry point. Its tag comes from the
// artifact's content hash, so one binary gives one image, built once.
func ArtifactImage(art runtime.Artifact) Image {
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
