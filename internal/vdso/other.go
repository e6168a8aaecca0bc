//go:build !(linux && amd64)

package vdso

import (
	"context"
	"errors"
)

var errUnsupported = errors.New("vdso: clock skew needs linux/amd64")

func selfImage() ([]byte, error)                                       { return nil, errUnsupported }
func image(int) ([]byte, error)                                        { return nil, errUnsupported }
func rewrite(context.Context, int, func([]byte) ([]byte, error)) error { return errUnsupported }
