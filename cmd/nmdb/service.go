package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/nmdb-go/nmdb/internal/daemon"
	"github.com/nmdb-go/nmdb/internal/metrics"
	"github.com/nmdb-go/nmdb/nmdb"
)

// leaveWorkDir makes the paths of the command line absolute and changes
// the directory to /, as a background daemon does, so that it holds no
// directory busy (an unmount of the directory it was started from).
func leaveWorkDir(o *options) error {
	for _, p := range []*string{&o.dbPath, &o.logFile, &o.pidFile} {
		if *p == "" || *p == daemon.Stdout || filepath.IsAbs(*p) {
			continue
		}
		abs, err := filepath.Abs(*p)
		if err != nil {
			return fmt.Errorf("make %q absolute: %w", *p, err)
		}
		*p = abs
	}
	if err := os.Chdir("/"); err != nil {
		return fmt.Errorf("change directory to /: %w", err)
	}
	return nil
}

// dropPrivileges makes the process run as the named user, with its primary
// and supplementary groups. Only root can do that; a process that already
// runs as that user has nothing to do.
func dropPrivileges(name string) error {
	u, err := user.Lookup(name)
	if err != nil {
		return fmt.Errorf("--user: %w", err)
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return fmt.Errorf("--user %s: user id %q: %w", name, u.Uid, err)
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return fmt.Errorf("--user %s: group id %q: %w", name, u.Gid, err)
	}
	if euid := os.Geteuid(); euid != 0 {
		if euid == uid {
			return nil
		}
		return fmt.Errorf("--user %s: only root can change its user (running as user id %d)", name, euid)
	}
	groups := []int{gid}
	if ids, err := u.GroupIds(); err == nil {
		for _, s := range ids {
			if g, err := strconv.Atoi(s); err == nil && g != gid {
				groups = append(groups, g)
			}
		}
	}
	// Groups first: once the user id is not root's, they cannot change.
	if err := syscall.Setgroups(groups); err != nil {
		return fmt.Errorf("--user %s: set groups: %w", name, err)
	}
	if err := syscall.Setgid(gid); err != nil {
		return fmt.Errorf("--user %s: set group id %d: %w", name, gid, err)
	}
	if err := syscall.Setuid(uid); err != nil {
		return fmt.Errorf("--user %s: set user id %d: %w", name, uid, err)
	}
	if os.Getuid() != uid || os.Geteuid() != uid || os.Getgid() != gid {
		return fmt.Errorf("--user %s: still user %d group %d after the change", name, os.Geteuid(), os.Getegid())
	}
	return nil
}

// metricsListener opens the Prometheus endpoint's socket; it serves
// metrics.Handler of the server once the server runs.
func metricsListener(addr string) (listener, error) {
	ml, err := net.Listen("tcp", addr)
	if err != nil {
		return listener{}, fmt.Errorf("listen for metrics on %s: %w", addr, err)
	}
	hs := &http.Server{ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute}
	return listener{
		name: "metrics",
		addr: ml.Addr().String(),
		serve: func(s *nmdb.Server) error {
			hs.Handler = metrics.Handler(s.Stats)
			err := hs.Serve(ml)
			if errors.Is(err, http.ErrServerClosed) {
				return nmdb.ErrServerClosed
			}
			return err
		},
		close: func() error {
			ml.Close() // in case it was never served
			return hs.Close()
		},
	}, nil
}
