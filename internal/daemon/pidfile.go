package daemon

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// PidFile is a file holding the process id of a running daemon.
type PidFile struct {
	path string
	pid  int
}

// WritePidFile writes this process's id to path (replacing the file whole,
// so a reader never sees a partial number) and returns the PidFile to remove
// on exit.
func WritePidFile(path string) (*PidFile, error) {
	pid := os.Getpid()
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp*")
	if err != nil {
		return nil, fmt.Errorf("pid file %s: %w", path, err)
	}
	_, werr := fmt.Fprintf(tmp, "%d\n", pid)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr, os.Chmod(tmp.Name(), 0o644)); err != nil {
		os.Remove(tmp.Name())
		return nil, fmt.Errorf("pid file %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return nil, fmt.Errorf("pid file %s: %w", path, err)
	}
	return &PidFile{path: path, pid: pid}, nil
}

// Path returns the file's path.
func (p *PidFile) Path() string { return p.path }

// Remove deletes the pid file if it still holds this process's id (another
// instance may have taken it over). A file already gone is not an error.
func (p *PidFile) Remove() error {
	pid, err := ReadPidFile(p.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if pid != p.pid {
		return nil
	}
	if err := os.Remove(p.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove pid file: %w", err)
	}
	return nil
}

// ReadPidFile returns the process id stored in the pid file at path.
func ReadPidFile(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("read pid file: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("pid file %s: no process id in %q", path, b)
	}
	return pid, nil
}
