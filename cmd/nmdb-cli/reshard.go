package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/nmdb-go/nmdb/libnmdb"
)

// opts returns the client options of the command line.
func (a *app) opts() libnmdb.Options {
	return libnmdb.Options{Timeout: a.timeout, Sharding: a.sharding}
}

// reshardCount is what reshard did.
type reshardCount struct {
	seen  uint64 // keys walked (a key moved to a server walked later is walked twice)
	moved uint64 // keys copied to their server and removed from the old one
	kept  uint64 // keys the new server already had: its value kept, the old copy removed
}

// reshard walks the database of every -s server and moves each pair that
// the -sharding rule places on another of them: it is stored there (sync)
// unless that server already has the key, whose value then wins, as one
// written by a client using the rule, and is removed from where it was
// once the walk of that server is over (the walk must not lose its
// place). Keys already in place are not touched. It moves the data after
// a change of rule or of servers; clients should not write meanwhile.
func (a *app) reshard(ctx context.Context, args []string) error {
	var dry bool
	if _, _, err := a.parse(args, cmdline{want: "no arguments",
		extra: func(fs *flag.FlagSet) { fs.BoolVar(&dry, "dry-run", false, "count what would move, move nothing") }}); err != nil {
		return err
	}
	var n reshardCount
	err := a.withClient(func(all *libnmdb.Client) error {
		names := all.Servers()
		for _, srv := range a.servers {
			one, err := connect([]server{srv}, a.opts())
			if err != nil {
				return err
			}
			err = reshardServer(ctx, all, one, names, dry, &n)
			one.Close()
			if err != nil {
				return fmt.Errorf("server %s: %w", srv, err)
			}
		}
		return nil
	})
	verb := "moved"
	if dry {
		verb = "would move"
	}
	fmt.Fprintf(a.stderr, "nmdb-cli: reshard (%v): walked %d keys, %s %d (%d of them already at their server, old copy removed)\n",
		a.sharding, n.seen, verb, n.moved+n.kept, n.kept)
	return err
}

// reshardServer moves the pairs of one's only server that all's rule
// places elsewhere. names are all's servers, in its order.
func reshardServer(ctx context.Context, all, one *libnmdb.Client, names []string, dry bool, n *reshardCount) error {
	here := one.Servers()[0]
	var gone [][]byte
	for r, err := range walk(ctx, one) {
		if err != nil {
			return err
		}
		n.seen++
		if names[all.Shard(r.key)] == here {
			continue
		}
		if dry {
			n.moved++
			continue
		}
		_, err := all.Get(ctx, r.key)
		switch {
		case err == nil:
			n.kept++
		case errors.Is(err, libnmdb.ErrNotFound):
			if err := all.SetSync(ctx, r.key, r.val); err != nil {
				return fmt.Errorf("storing key %q: %w", r.key, err)
			}
			n.moved++
		default:
			return fmt.Errorf("reading key %q at its server: %w", r.key, err)
		}
		gone = append(gone, r.key)
	}
	for _, k := range gone {
		if err := one.DelSync(ctx, k); err != nil && !errors.Is(err, libnmdb.ErrNotFound) {
			return fmt.Errorf("removing key %q from %s: %w", k, here, err)
		}
	}
	return nil
}
