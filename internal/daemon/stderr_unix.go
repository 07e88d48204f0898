//go:build unix

package daemon

import (
	"os"

	"golang.org/x/sys/unix"
)

// redirectStderr makes f the process's standard error.
func redirectStderr(f *os.File) error {
	return unix.Dup2(int(f.Fd()), 2)
}
