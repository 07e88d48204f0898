package libnmdb

import (
	"fmt"
	"strings"
)

// Sharding is a rule that picks, for each key, the server that holds it.
// Every client of one cluster must use the same rule over the same
// servers, or they look for keys in different places. A server being down
// never changes where a key goes.
//
// ShardingClassic, the default, is the classic C library's rule (see
// Select): relinked classic programs and Go programs find the data classic
// clients stored. It reads only about the first half of a key, so keys
// that differ only at their end all go to one server, and it moves most
// keys when a server is added or removed.
//
// ShardingRendezvous hashes the whole key, spreads keys evenly, and moves
// only the keys of the server added or removed (about 1/n of them with n
// servers). Classic clients do not know it, and switching a cluster to it
// moves most keys: nmdb-cli reshard moves the stored data.
//
// Keys per server, measured with Sharding.Select over the servers
// 10.0.0.1:26010 .. 10.0.0.n:26010, 10,000 keys:
//
//	keys                        rule        2 servers    3 servers           4 servers
//	user:0 .. user:9999         classic     0 / 10000    100 / 9000 / 900    0 / 9010 / 0 / 990
//	user:0 .. user:9999         rendezvous  4943 / 5057  3322 / 3364 / 3314  2501 / 2562 / 2493 / 2444
//	memo keys, name first (*)   classic     9990 / 10    9090 / 10 / 900     90 / 10 / 9900 / 0
//	memo keys, digest first     classic     4956 / 5044  3309 / 3273 / 3418  2483 / 2496 / 2473 / 2548
//	memo keys, digest first     rendezvous  4976 / 5024  3297 / 3353 / 3350  2460 / 2437 / 2511 / 2592
//
// (*) one function's keys (render/v3, arguments /page/N) as package memo
// made them before its keys began with a digest.
//
// With 10,000 keys the noise of any hash is about 4 % of an even share
// per server at 16 servers (one standard deviation). With 100,000 keys,
// the worst server over 2..16 servers is 2.3 % from even for user:N under
// rendezvous (classic: 1,484 %), and 3.1 % for digest-first memo keys
// under classic. Keys that move when a server is added (100,000 user:N
// keys):
//
//	servers   rendezvous   classic
//	1 -> 2    50.1 %       100 %
//	2 -> 3    33.1 %       61.0 %
//	3 -> 4    25.0 %       61.0 %
//	16 -> 17  5.8 %        89.1 %
//
// Under rendezvous all of them move to the new server, and removing a
// server moves only its own keys.
//
// A server's identity, which its rendezvous weights derive from, is its
// address and port as in "10.0.0.1:26010" or "[fd00::1]:26010" (host names
// resolved, the transport left out, so that clients reaching one server
// over TCP, UDP or SCTP agree), and "tipc:N" for TIPC port N. It does not
// depend on the other servers or their order: adding or removing one does
// not change the others' weights.
//
// The sharding order, which the classic rule indexes and both rules break
// ties by, is the order Client.Servers lists: by transport (TIPC, TCP,
// UDP, SCTP), TIPC servers by port, IP servers by address then port, both
// compared as little-endian integers of their network-order bytes, as
// classic clients order them.
type Sharding uint8

const (
	// ShardingClassic is the classic rule: the servers in sharding order,
	// the key's Hash modulo their number (see Select).
	ShardingClassic Sharding = iota
	// ShardingRendezvous is rendezvous (highest random weight) hashing:
	// each server gets a weight for the key, a 64-bit hash of the whole
	// key and of the server's identity, and the key goes to the server
	// of highest weight. Adding a server moves to it only the keys it
	// now wins; removing one moves only its keys.
	ShardingRendezvous
)

// String returns the rule's name, as ParseSharding reads it.
func (s Sharding) String() string {
	switch s {
	case ShardingClassic:
		return "classic"
	case ShardingRendezvous:
		return "rendezvous"
	}
	return fmt.Sprintf("sharding(%d)", uint8(s))
}

// ParseSharding returns the rule named name: "classic" or "rendezvous"
// (also "hrw"), in any case. The empty string is the default, classic.
func ParseSharding(name string) (Sharding, error) {
	switch strings.ToLower(name) {
	case "", "classic":
		return ShardingClassic, nil
	case "rendezvous", "hrw":
		return ShardingRendezvous, nil
	}
	return 0, fmt.Errorf("nmdb: unknown sharding rule %q (want classic or rendezvous)", name)
}

// Select returns the index, among servers, of the server that holds key
// under rule s. servers are the servers' identities (see
// Client.Identities) in sharding order (see Client.Servers); the classic
// rule uses only their number. It is the choice a Client using the rule
// makes, without a Client. servers must not be empty.
func (s Sharding) Select(key []byte, servers []string) int {
	if s != ShardingRendezvous {
		return Select(key, len(servers))
	}
	kh := KeyHash64(key)
	best, bestW := 0, uint64(0)
	for i, id := range servers {
		if w := weight(kh, identityHash(id)); i == 0 || w > bestW {
			best, bestW = i, w
		}
	}
	return best
}

// KeyHash64 is the 64-bit key hash of ShardingRendezvous: FNV-1a over
// every byte of the key, then mixed by mix64 so that every bit of the
// result depends on every bit of the key.
func KeyHash64(key []byte) uint64 {
	const (
		offset = 0xcbf29ce484222325
		prime  = 0x100000001b3
	)
	h := uint64(offset)
	for _, b := range key {
		h ^= uint64(b)
		h *= prime
	}
	return mix64(h)
}

// identityHash is the hash of a server's identity that its weights
// derive from.
func identityHash(id string) uint64 { return KeyHash64([]byte(id)) }

// weight is the rendezvous weight of a server whose identity hashes to
// sid for a key that hashes to kh.
func weight(kh, sid uint64) uint64 { return mix64(kh ^ sid) }

// mix64 is the 64-bit finalizer of MurmurHash3: a bijection in which each
// input bit flips each output bit with probability close to one half.
func mix64(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}
