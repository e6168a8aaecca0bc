package faultfs

import (
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkWriteFsync writes 4 KiB and fsyncs, over and over, through the
// mount and to the backing directory directly. The offsets cycle through
// 1 MiB, so after the first lap every write overwrites durable bytes (the
// mount's costly case: it keeps them before the write).
//
//	go test -run '^$' -bench WriteFsync ./internal/faultfs/
func BenchmarkWriteFsync(b *testing.B) {
	for _, where := range []string{"direct", "faultfs"} {
		b.Run(where, func(b *testing.B) {
			_, backing, mnt := mountT(b, Options{}, nil)
			dir := backing
			if where == "faultfs" {
				dir = mnt
			}
			f, err := os.OpenFile(filepath.Join(dir, "bench"), os.O_RDWR|os.O_CREATE, 0o644)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			buf := make([]byte, 4096)
			for i := range buf {
				buf[i] = byte(i)
			}
			b.SetBytes(int64(len(buf)))
			for i := 0; b.Loop(); i++ {
				if _, err := f.WriteAt(buf, int64(i%256)*4096); err != nil {
					b.Fatal(err)
				}
				if err := f.Sync(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
