package main

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/nmdb-go/nmdb/libnmdb"
)

// server is one server named on the command line.
type server struct {
	transport string // "tipc", "tcp", "udp" or "sctp"
	host      string // empty for tipc
	port      int    // -1 for the transport's default
}

// String gives the server back in the command line's syntax.
func (s server) String() string {
	if s.transport == "tipc" {
		return fmt.Sprintf("tipc:%d", s.port)
	}
	return s.transport + ":" + net.JoinHostPort(s.host, strconv.Itoa(s.port))
}

// parseServer parses TRANSPORT:HOST[:PORT], tipc[:PORT] or HOST[:PORT] (TCP).
// IPv6 addresses with a port go in brackets: tcp:[::1]:26010.
func parseServer(spec string) (server, error) {
	transport, rest := "tcp", spec
	if t, r, ok := strings.Cut(spec, ":"); ok {
		switch t {
		case "tcp", "udp", "sctp", "tipc":
			transport, rest = t, r
		}
	} else if spec == "tipc" {
		transport, rest = "tipc", ""
	}
	if transport == "tipc" {
		if rest == "" {
			return server{transport: "tipc", port: libnmdb.DefaultTIPCPort}, nil
		}
		p, err := parsePort(rest)
		if err != nil {
			return server{}, fmt.Errorf("server %q: %w", spec, err)
		}
		return server{transport: "tipc", port: p}, nil
	}
	host, port := rest, libnmdb.DefaultPort
	if h, p, err := net.SplitHostPort(rest); err == nil {
		n, err := parsePort(p)
		if err != nil {
			return server{}, fmt.Errorf("server %q: %w", spec, err)
		}
		host, port = h, n
	} else if strings.HasPrefix(rest, "[") && strings.HasSuffix(rest, "]") {
		host = rest[1 : len(rest)-1]
	}
	if host == "" {
		return server{}, fmt.Errorf("server %q: missing host", spec)
	}
	return server{transport: transport, host: host, port: port}, nil
}

// parsePort parses a port number.
func parsePort(s string) (int, error) {
	p, err := strconv.Atoi(s)
	if err != nil || p < 0 || p > 65535 {
		return 0, fmt.Errorf("bad port %q", s)
	}
	return p, nil
}

// serverList collects repeated -s flags.
type serverList []server

// String implements flag.Value.
func (l *serverList) String() string {
	s := make([]string, len(*l))
	for i, srv := range *l {
		s[i] = srv.String()
	}
	return strings.Join(s, " ")
}

// Set implements flag.Value.
func (l *serverList) Set(v string) error {
	s, err := parseServer(v)
	if err != nil {
		return err
	}
	*l = append(*l, s)
	return nil
}

// connect returns a client holding every server of l.
func connect(l []server, o libnmdb.Options) (*libnmdb.Client, error) {
	c := libnmdb.New(o)
	for _, s := range l {
		var err error
		switch s.transport {
		case "tipc":
			err = c.AddTIPCServer(s.port)
		case "tcp":
			err = c.AddTCPServer(s.host, s.port)
		case "udp":
			err = c.AddUDPServer(s.host, s.port)
		case "sctp":
			err = c.AddSCTPServer(s.host, s.port)
		}
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("adding server %s: %w", s, err)
		}
	}
	return c, nil
}
