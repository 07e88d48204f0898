package daemon

import (
	"fmt"
	"os"
	"sync"
)

// Stdout is the log file name that means standard output.
const Stdout = "-"

// LogFile is an io.Writer to a log file that Reopen points at a new file of
// the same name, as log rotation needs: rename the file, then ask the daemon
// to reopen (SIGHUP). Writes are serialized, so each Write lands whole.
type LogFile struct {
	path  string
	stdio bool

	mu sync.Mutex
	f  *os.File
}

// OpenLog opens path for appending, creating it if missing; Stdout ("-")
// means standard output, which Reopen leaves alone. With stdio set, the
// file also becomes the process's standard output and standard error (file
// descriptors 1 and 2), so that what the runtime itself prints, such as a
// crash report, is logged too.
func OpenLog(path string, stdio bool) (*LogFile, error) {
	l := &LogFile{path: path, stdio: stdio}
	if path == Stdout {
		l.f = os.Stdout
		return l, nil
	}
	f, err := l.open()
	if err != nil {
		return nil, err
	}
	l.f = f
	return l, nil
}

// Path returns the log file's name.
func (l *LogFile) Path() string { return l.path }

func (l *LogFile) open() (*os.File, error) {
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open log file: %w", err)
	}
	if l.stdio {
		if err := redirectOutput(f); err != nil {
			f.Close()
			return nil, fmt.Errorf("log file as standard output and error: %w", err)
		}
	}
	return f, nil
}

// Write writes p to the current file.
func (l *LogFile) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Write(p)
}

// Reopen closes the file and opens its name again, creating it if it was
// renamed or removed. On error the old file stays in use.
func (l *LogFile) Reopen() error {
	if l.path == Stdout {
		return nil
	}
	f, err := l.open()
	if err != nil {
		return err
	}
	l.mu.Lock()
	old := l.f
	l.f = f
	l.mu.Unlock()
	if err := old.Close(); err != nil {
		return fmt.Errorf("close old log file: %w", err)
	}
	return nil
}

// Close closes the file (standard output stays open).
func (l *LogFile) Close() error {
	if l.path == Stdout {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.f.Close(); err != nil {
		return fmt.Errorf("close log file: %w", err)
	}
	return nil
}
