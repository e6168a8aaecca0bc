// diskprobe is the node of the Docker runtime's disk tests: on its first
// start it writes two files in /data, one fsynced (with its directory),
// one not, and says "written"; on later starts it says what each file
// holds, then "read". Then it sleeps until killed.
package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

func main() {
	dir := "/data"
	fmt.Printf("uid %d\n", os.Getuid())
	if _, err := os.Stat(filepath.Join(dir, "synced")); errors.Is(err, os.ErrNotExist) {
		if err := write(filepath.Join(dir, "synced"), "fsynced before the power loss", true); err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		if err := write(filepath.Join(dir, "unsynced"), "never fsynced", false); err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println("written")
	} else {
		for _, name := range []string{"synced", "unsynced"} {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				fmt.Printf("%s: absent\n", name)
			} else {
				fmt.Printf("%s: %q\n", name, b)
			}
		}
		fmt.Println("read")
	}
	for {
		time.Sleep(time.Hour)
	}
}

func write(p, content string, sync bool) error {
	f, err := os.Create(p)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(content); err != nil {
		return err
	}
	if sync {
		if err := f.Sync(); err != nil {
			return err
		}
		d, err := os.Open(filepath.Dir(p))
		if err != nil {
			return err
		}
		defer d.Close()
		if err := d.Sync(); err != nil {
			return err
		}
	}
	return f.Close()
}
