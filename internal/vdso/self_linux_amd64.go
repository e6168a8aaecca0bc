//go:build linux && amd64

package vdso

import "os"

func selfImage() ([]byte, error) { return image(os.Getpid()) }

func image(pid int) ([]byte, error) {
	start, end, err := mapping(pid)
	if err != nil {
		return nil, err
	}
	return readImage(pid, start, end)
}
