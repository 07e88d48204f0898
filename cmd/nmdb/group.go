package main

import (
	"fmt"
	"log/slog"

	"github.com/nmdb-go/nmdb/internal/cluster"
	"github.com/nmdb-go/nmdb/nmdb"
	"github.com/nmdb-go/nmdb/tipc"
)

// groupRole decides, before the server starts, whether it joins its TIPC
// port's group as a mirror: with -p, or with --join when the port has an
// active server. A server started active on a port that has one refuses to
// start. Without TIPC there is no group.
func groupRole(opts *options, ls []listener) (mirror bool, err error) {
	if tipcConn(ls) == nil {
		return opts.passive, nil
	}
	actives, err := cluster.Probe(opts.tipcLower, opts.tipcUpper)
	if err != nil {
		return false, fmt.Errorf("TIPC port %d: %w", opts.tipcLower, err)
	}
	if len(actives) == 0 || opts.passive {
		return opts.passive, nil
	}
	if !opts.join {
		return false, fmt.Errorf("TIPC port %d: %w (%v); start with --join or -p to join it as a mirror",
			opts.tipcLower, cluster.ErrActiveExists, &actives[0])
	}
	return true, nil
}

// startGroup starts the server's part in its TIPC port's group (nil
// without TIPC).
func startGroup(opts *options, ls []listener, srv *nmdb.Server, mirror bool, log *slog.Logger) (*cluster.Node, error) {
	tc := tipcConn(ls)
	if tc == nil {
		return nil, nil
	}
	node, err := cluster.Start(cluster.Config{Conn: tc, Lower: opts.tipcLower, Upper: opts.tipcUpper,
		Mirror: mirror, Server: srv, Log: log})
	if err != nil {
		return nil, fmt.Errorf("TIPC port %d: %w", opts.tipcLower, err)
	}
	return node, nil
}

// roleOf returns node's role, None without one.
func roleOf(node *cluster.Node) cluster.Role {
	if node == nil {
		return cluster.None
	}
	return node.Role()
}

// tipcConn returns the TIPC socket among ls, or nil.
func tipcConn(ls []listener) *tipc.Conn {
	for _, l := range ls {
		if l.tipc != nil {
			return l.tipc
		}
	}
	return nil
}
