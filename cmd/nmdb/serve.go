package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/nmdb-go/nmdb/internal/daemon"
	"github.com/nmdb-go/nmdb/internal/sctp"
	"github.com/nmdb-go/nmdb/internal/version"
	"github.com/nmdb-go/nmdb/nmdb"
	"github.com/nmdb-go/nmdb/tipc"
)

// listener is one open transport socket and how to serve it.
type listener struct {
	name  string
	addr  string
	tipc  *tipc.Conn // the TIPC socket, for the port's elections
	serve func(*nmdb.Server) error
	close func() error
}

// serve runs the daemon until a stop signal or a fatal error: it opens the
// log, the sockets and the server, serves every socket, announces that it
// is ready, and handles signals until it stops.
func serve(opts *options) (err error) {
	child := daemon.IsChild() // the background copy (until it is ready)
	if child {
		if err := leaveWorkDir(opts); err != nil {
			return err
		}
	}
	logf, err := daemon.OpenLog(opts.logFile, child && opts.logFile != daemon.Stdout)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := logf.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	log := slog.New(slog.NewTextHandler(logf, nil))
	// An error that stops the start goes to the log file too, not only to
	// the terminal (where the parent of a background copy prints it).
	ready := false
	defer func() {
		if err != nil && !ready && opts.logFile != daemon.Stdout {
			log.Error("could not start", "err", err)
		}
	}()
	if child {
		// In the background, standard output may be a pipe or terminal
		// that goes away; losing it must not kill the daemon.
		signal.Ignore(syscall.SIGPIPE)
	}

	// Catch signals before anything is served, so that none is lost
	// between the first request and the handler.
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2)
	defer signal.Stop(sigs)

	ls, err := openSockets(opts, log)
	if err != nil {
		return err
	}
	mirror, err := groupRole(opts, ls)
	if err != nil {
		closeListeners(ls)
		return err
	}
	if mirror {
		opts.passive = true // a mirror starts passive, as with -p
	}
	faults := make(chan error, 1)
	srv, settings, err := newServer(opts, log, faults)
	if err != nil {
		closeListeners(ls)
		return err
	}
	node, err := startGroup(opts, ls, srv, mirror, log)
	if err != nil {
		return errors.Join(err, stop(srv, ls, nil, log))
	}
	errc := serveAll(srv, ls)
	var pid *daemon.PidFile
	if opts.pidFile != "" {
		pid, err = daemon.WritePidFile(opts.pidFile)
		if err != nil {
			node.Stop()
			return errors.Join(err, stop(srv, ls, nil, log))
		}
	}
	announceReady(opts, child, log, append(settings, "role", roleOf(node).String()))
	ready = true
	runErr := handleSignals(srv, logf, log, sigs, faults, errc)
	node.Stop()
	return errors.Join(runErr, stop(srv, ls, pid, log))
}

// openSockets opens every socket the daemon serves, the metrics endpoint
// included, and then gives up root if asked: sockets first, so that a
// transport that cannot be served fails the start before the store is
// opened (or created).
func openSockets(opts *options, log *slog.Logger) ([]listener, error) {
	ls, err := openListeners(opts, log)
	if err == nil && len(ls) == 0 {
		err = errors.New("no transport to serve: every one is off or unavailable")
	}
	if err != nil {
		return nil, err
	}
	if opts.metrics != "" {
		ml, err := metricsListener(opts.metrics)
		if err != nil {
			closeListeners(ls)
			return nil, err
		}
		log.Info("serving metrics", "url", "http://"+ml.addr+"/metrics")
		ls = append(ls, ml)
	}
	// Every socket is bound: root is not needed any more.
	if opts.user != "" {
		if err := dropPrivileges(opts.user); err != nil {
			closeListeners(ls)
			return nil, err
		}
		log.Info("running as", "user", opts.user, "uid", os.Getuid(), "gid", os.Getgid())
	}
	return ls, nil
}

// newServer applies the memory settings and opens the server; a store
// fault is sent on faults. It returns the settings to log, as key-value
// pairs.
func newServer(opts *options, log *slog.Logger, faults chan<- error) (*nmdb.Server, []any, error) {
	gcp := applyGCPercent(opts, os.Getenv)
	cacheBytes := int64(opts.cacheMiB) << 20
	memLimit := applyMemoryLimit(cacheBytes, os.Getenv)
	srv, err := nmdb.New(nmdb.Config{
		Backend:      opts.backend,
		DBPath:       opts.dbPath,
		CacheObjects: opts.cacheK * 1024,
		CacheBytes:   cacheBytes,
		ReadOnly:     opts.readOnly,
		Passive:      opts.passive,
		Logger:       log,
		OnStoreFault: func(err error) { faults <- err },
		MaxConns:     opts.maxConns,
		IdleTimeout:  opts.idleTimeout,
		FrameTimeout: opts.frameTimeout,
	})
	if err != nil {
		if errors.Is(err, syscall.EAGAIN) {
			// pebble's lock on the directory is taken.
			return nil, nil, fmt.Errorf("start server (is another nmdb using %s?): %w", opts.dbPath, err)
		}
		return nil, nil, fmt.Errorf("start server: %w", err)
	}
	settings := []any{"backend", opts.backend, "db", opts.dbPath,
		"cache_objects", opts.cacheK * 1024, "cache_mib", opts.cacheMiB, "memory_limit", memLimit, "gc_percent", gcp,
		"read_only", opts.readOnly, "passive", opts.passive}
	return srv, settings, nil
}

// serveAll serves every socket in its own goroutine; each sends one value
// on the returned channel when it stops: nil after Shutdown, else why.
func serveAll(srv *nmdb.Server, ls []listener) <-chan error {
	errc := make(chan error, len(ls))
	for _, l := range ls {
		go func() {
			err := l.serve(srv)
			if err != nil && !errors.Is(err, nmdb.ErrServerClosed) {
				err = fmt.Errorf("serve %s on %s: %w", l.name, l.addr, err)
			} else {
				err = nil
			}
			errc <- err
		}()
	}
	return errc
}

// announceReady logs that the daemon serves, tells the parent process (of
// a background copy) and the service manager, and detaches the background
// copy (child) from the terminal.
func announceReady(opts *options, child bool, log *slog.Logger, settings []any) {
	log.Info("nmdb ready", append([]any{"pid", os.Getpid(), "version", version.String()}, settings...)...)
	if child && opts.logFile == daemon.Stdout {
		// The start-up lines reached the terminal; from now on the log
		// goes nowhere, and the terminal may go away. Detached before
		// the parent hears of it, so that nothing is written to the
		// terminal once the parent has returned.
		if err := daemon.DetachOutput(); err != nil {
			log.Warn("could not detach from the terminal", "err", err)
		}
	}
	if err := daemon.Ready(); err != nil {
		log.Warn("could not tell the parent process that the daemon is ready", "err", err)
	}
	if _, err := daemon.Notify(fmt.Sprintf("READY=1\nMAINPID=%d\nSTATUS=serving", os.Getpid())); err != nil {
		log.Warn("could not tell the service manager that the daemon is ready", "err", err)
	}
}

// handleSignals acts on signals until one asks the daemon to stop, the
// store fails, or a socket cannot be served; it returns why it stopped
// (nil for a stop signal).
func handleSignals(srv *nmdb.Server, logf *daemon.LogFile, log *slog.Logger, sigs <-chan os.Signal,
	faults <-chan error, errc <-chan error) error {
	for {
		select {
		case sig := <-sigs:
			switch sig {
			case syscall.SIGHUP:
				if err := logf.Reopen(); err != nil {
					log.Error("reopen log file", "err", err)
				} else {
					log.Info("log file reopened", "file", logf.Path())
				}
			case syscall.SIGUSR1:
				srv.SetReadOnly(true)
				log.Info("read-only mode on")
			case syscall.SIGUSR2:
				on := !srv.Passive()
				srv.SetPassive(on)
				if on {
					log.Info("passive mode on")
				} else {
					log.Info("passive mode off")
				}
			default:
				log.Info("stopping: finishing queued database work", "signal", sig.String())
				return nil
			}
		case err := <-faults:
			if errors.Is(err, syscall.ENOSPC) {
				// The server refuses writes and serves reads until
				// the disk has room again, then reopens the store.
				log.Error("the database's disk is full: writes are refused until it has room again; reads go on",
					"err", err)
				continue
			}
			// The store cannot be written any more: writes have been
			// refused since the fault. Stop cleanly: nothing more is
			// acknowledged, and a restart replays the log once the
			// cause (a failing disk) is dealt with.
			log.Error("stopping: the database could not be written; every write acknowledged as synced is on disk; restart nmdb once the cause is fixed",
				"err", err)
			return fmt.Errorf("the database could not be written: %w", err)
		case err := <-errc:
			if err != nil {
				log.Error("stopping", "err", err)
				return err
			}
		}
	}
}

// stop shuts the server down (finishing every queued database write),
// closes the sockets and removes the pid file.
func stop(srv *nmdb.Server, ls []listener, pid *daemon.PidFile, log *slog.Logger) error {
	if _, err := daemon.Notify("STOPPING=1"); err != nil {
		log.Warn("could not tell the service manager that the daemon stops", "err", err)
	}
	var errs []error
	if err := srv.Shutdown(context.Background()); err != nil {
		errs = append(errs, fmt.Errorf("stop server: %w", err))
	}
	closeListeners(ls)
	if pid != nil {
		if err := pid.Remove(); err != nil {
			errs = append(errs, err)
		}
	}
	err := errors.Join(errs...)
	if err != nil {
		log.Error("stopped with errors", "err", err)
	} else {
		log.Info("stopped")
	}
	return err
}

// closeListeners closes every socket; Shutdown may have closed them already.
func closeListeners(ls []listener) {
	for _, l := range ls {
		l.close()
	}
}

// openListeners opens the socket of every transport that is on. A TIPC or
// SCTP socket the kernel cannot provide is skipped with a warning when that
// transport is only on by default, and is an error when it was asked for.
func openListeners(opts *options, log *slog.Logger) (ls []listener, err error) {
	fail := func(e error) ([]listener, error) {
		closeListeners(ls)
		return nil, e
	}
	if opts.tipc {
		name := fmt.Sprintf("{%d,%d,%d}", tipc.ServiceType, opts.tipcLower, opts.tipcUpper)
		c, err := tipc.Listen(tipc.ServiceType, opts.tipcLower, opts.tipcUpper)
		switch {
		case err == nil:
			l := packetListener("tipc", name, c, nmdb.TIPC)
			l.tipc = c
			ls = append(ls, l)
		case errors.Is(err, tipc.ErrUnsupported) && !opts.tipcExplicit:
			log.Warn("TIPC not served (-l off to silence)", "err", err)
		default:
			return fail(fmt.Errorf("listen on TIPC %s: %w", name, err))
		}
	}
	if opts.tcp {
		addr := net.JoinHostPort(opts.tcpAddr, strconv.Itoa(opts.tcpPort))
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return fail(fmt.Errorf("listen on TCP: %w", err))
		}
		ls = append(ls, listener{
			name:  "tcp",
			addr:  l.Addr().String(),
			serve: func(s *nmdb.Server) error { return s.ServeTCP(l) },
			close: l.Close,
		})
	}
	if opts.udp {
		addr := net.JoinHostPort(opts.udpAddr, strconv.Itoa(opts.udpPort))
		c, err := net.ListenPacket("udp", addr)
		if err != nil {
			return fail(fmt.Errorf("listen on UDP: %w", err))
		}
		ls = append(ls, packetListener("udp", c.LocalAddr().String(), c, nmdb.UDP))
	}
	if opts.sctp {
		addr := net.JoinHostPort(opts.sctpAddr, strconv.Itoa(opts.sctpPort))
		c, err := sctp.ListenPacket("sctp", addr)
		switch {
		case err == nil:
			ls = append(ls, packetListener("sctp", c.LocalAddr().String(), c, nmdb.SCTP))
		case errors.Is(err, sctp.ErrUnsupported) && !opts.sctpExplicit:
			log.Warn("SCTP not served (-s off to silence)", "err", err)
		default:
			return fail(fmt.Errorf("listen on SCTP %s: %w", addr, err))
		}
	}
	for _, l := range ls {
		log.Info("listening", "transport", l.name, "addr", l.addr)
	}
	return ls, nil
}

// packetListener serves a datagram socket.
func packetListener(name, addr string, c net.PacketConn, t nmdb.Transport) listener {
	return listener{
		name:  name,
		addr:  addr,
		serve: func(s *nmdb.Server) error { return s.ServePacket(c, t) },
		close: c.Close,
	}
}
