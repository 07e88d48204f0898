//go:build unix

package daemon

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// redirectOutput makes f the process's standard output and standard error.
func redirectOutput(f *os.File) error {
	for _, fd := range []int{1, 2} {
		if err := unix.Dup2(int(f.Fd()), fd); err != nil {
			return err
		}
	}
	return nil
}

// DetachOutput points standard input, output and error at /dev/null. A
// background daemon that logs to standard output calls it once it is ready:
// until then its start-up lines and errors reach the terminal it was started
// from; afterwards the terminal may go away without taking the daemon along.
func DetachOutput() error {
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("daemon: open %s: %w", os.DevNull, err)
	}
	defer null.Close()
	for _, fd := range []int{0, 1, 2} {
		if err := unix.Dup2(int(null.Fd()), fd); err != nil {
			return fmt.Errorf("daemon: detach descriptor %d: %w", fd, err)
		}
	}
	return nil
}
