/*
 * api.c - calls every function of the nmdb C API and reaches every
 * documented return value that a healthy cluster can produce.
 *
 * usage: api PORT1 PORT2 ROPORT DEADPORT
 *   PORT1, PORT2: two empty servers on 127.0.0.1 (TCP; PORT1 also UDP)
 *   ROPORT:       a read-only server on 127.0.0.1 (TCP)
 *   DEADPORT:     a UDP port on 127.0.0.1 where nothing listens
 *
 * Build: cc api.c -lnmdb
 */
#include <nmdb.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static unsigned char buf[70000];

/* The classic key hash (SPEC section 4). */
static uint32_t key_hash(const unsigned char *key, size_t n)
{
	uint32_t s = 0;
	size_t i;

	for (i = 0; i < n / 2; i++)
		s += (uint32_t) key[i] | ((uint32_t) key[i + 1] << 8);
	if (n % 2)
		s += key[n / 2];
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return ~s;
}

/* A port as the sharding order compares it: low byte first. */
static unsigned port_order(int port)
{
	return ((unsigned) (port & 0xff) << 8) | ((unsigned) port >> 8);
}

static uint64_t be64(const unsigned char *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

static nmdb_t *tcp_handle(int port)
{
	nmdb_t *db = nmdb_init();

	QUIET_CHECK(db != NULL, "nmdb_init");
	QUIET_CHECK(nmdb_add_tcp_server(db, "127.0.0.1", port) == 1,
			"add_tcp_server 127.0.0.1:%d", port);
	return db;
}

static void test_add_servers(int port1, int deadport)
{
	nmdb_t *db = nmdb_init();
	int r;

	CHECK(db != NULL, "nmdb_init returns a handle");
	EXPECT(nmdb_add_tcp_server(db, "localhost", port1), 1);
	/* The same server twice (localhost is 127.0.0.1 here). */
	EXPECT_ERRNO(nmdb_add_tcp_server(db, "127.0.0.1", port1), 0, EINVAL);
	EXPECT_ERRNO(nmdb_add_tcp_server(db, NULL, port1), 0, EINVAL);
	EXPECT_ERRNO(nmdb_add_tcp_server(db, "no-such-host.invalid", port1), 0, ENXIO);
	EXPECT_ERRNO(nmdb_add_tcp_server(db, "127.0.0.1", 70000), 0, EINVAL);
	EXPECT_ERRNO(nmdb_add_tcp_server(db, "127.0.0.1", -5), 0, EINVAL);
	/* Nothing listens there over TCP: added all the same, connected on
	 * first use (see test_down_server). */
	EXPECT(nmdb_add_tcp_server(db, "127.0.0.1", deadport), 1);
	EXPECT_ERRNO(nmdb_add_udp_server(db, NULL, port1), 0, EINVAL);
	EXPECT_ERRNO(nmdb_add_udp_server(db, "no-such-host.invalid", port1), 0, ENXIO);
	EXPECT_ERRNO(nmdb_add_sctp_server(db, NULL, -1), 0, EINVAL);
	EXPECT_ERRNO(nmdb_add_sctp_server(db, "127.0.0.1", 70000), 0, EINVAL);
	EXPECT_ERRNO(nmdb_add_tipc_server(db, -5), 0, EINVAL);
	/* TIPC and SCTP depend on the kernel: 1 with them, 0 and
	 * EAFNOSUPPORT without. */
	errno = 0;
	r = nmdb_add_tipc_server(db, -1);
	CHECK(r == 1 || (r == 0 && errno == EAFNOSUPPORT),
			"nmdb_add_tipc_server(-1) is 1, or 0 with EAFNOSUPPORT "
			"(got %d, errno %d)", r, errno);
	errno = 0;
	r = nmdb_add_sctp_server(db, "127.0.0.1", -1);
	CHECK(r == 1 || (r == 0 && errno == EAFNOSUPPORT),
			"nmdb_add_sctp_server(-1) is 1, or 0 with EAFNOSUPPORT "
			"(got %d, errno %d)", r, errno);
	EXPECT(nmdb_free(db), 1);

	/* A handle without servers. */
	db = nmdb_init();
	EXPECT_ERRNO(nmdb_get(db, U("k"), 1, buf, sizeof(buf)), -2, ENOTCONN);
	EXPECT_ERRNO(nmdb_set(db, U("k"), 1, U("v"), 1), -1, ENOTCONN);
	EXPECT_ERRNO(nmdb_firstkey(db, buf, sizeof(buf)), -2, EINVAL);
	EXPECT(nmdb_free(db), 1);

	/* A NULL handle is an error, not a crash. */
	EXPECT_ERRNO(nmdb_add_tcp_server(NULL, "127.0.0.1", port1), 0, EINVAL);
	EXPECT_ERRNO(nmdb_get(NULL, U("k"), 1, buf, sizeof(buf)), -2, EINVAL);
	EXPECT_ERRNO(nmdb_set(NULL, U("k"), 1, U("v"), 1), -1, EINVAL);
	EXPECT_ERRNO(nmdb_del(NULL, U("k"), 1), -1, EINVAL);
	EXPECT_ERRNO(nmdb_cas(NULL, U("k"), 1, U("a"), 1, U("b"), 1), -1, EINVAL);
	EXPECT_ERRNO(nmdb_incr(NULL, U("k"), 1, 1, NULL), -1, EINVAL);
	EXPECT_ERRNO(nmdb_firstkey(NULL, buf, sizeof(buf)), -2, EINVAL);
	EXPECT_ERRNO(nmdb_nextkey(NULL, U("k"), 1, buf, sizeof(buf)), -2, EINVAL);
	EXPECT_ERRNO(nmdb_stats(NULL, buf, sizeof(buf), NULL, NULL), -2, EINVAL);
	EXPECT(nmdb_free(NULL), 1);
}

static void test_get_set_del(nmdb_t *db)
{
	static unsigned char big[60000];
	unsigned char small[4];
	size_t i;

	EXPECT(nmdb_get(db, U("absent"), 6, buf, sizeof(buf)), -1);
	EXPECT(nmdb_set(db, U("k1"), 2, U("v1"), 2), 1);
	EXPECT(nmdb_get(db, U("k1"), 2, buf, sizeof(buf)), 2);
	CHECK(memcmp(buf, "v1", 2) == 0, "get returns the value set");

	/* Binary keys and values, NUL bytes included. */
	EXPECT(nmdb_set(db, U("b\0k"), 3, U("x\0y\0"), 4), 1);
	EXPECT(nmdb_get(db, U("b\0k"), 3, buf, sizeof(buf)), 4);
	CHECK(memcmp(buf, "x\0y\0", 4) == 0, "binary value round trip");
	EXPECT(nmdb_get(db, U("b"), 1, buf, sizeof(buf)), -1);

	/* A large value, and the buffer-too-small error. */
	for (i = 0; i < sizeof(big); i++)
		big[i] = (unsigned char) (i * 7);
	EXPECT(nmdb_set(db, U("big"), 3, big, sizeof(big)), 1);
	EXPECT(nmdb_get(db, U("big"), 3, buf, sizeof(buf)), sizeof(big));
	CHECK(memcmp(buf, big, sizeof(big)) == 0, "60000-byte value round trip");
	EXPECT_ERRNO(nmdb_get(db, U("big"), 3, small, sizeof(small)), -2, ERANGE);
	EXPECT_ERRNO(nmdb_cache_get(db, U("big"), 3, small, sizeof(small)), -2, ERANGE);
	EXPECT(nmdb_get(db, U("big"), 3, buf, sizeof(big)), sizeof(big));

	/* Too big for the protocol: an error, not a crash. */
	EXPECT_ERRNO(nmdb_set(db, U("huge"), 4, buf, 66000), -1, EMSGSIZE);
	EXPECT_ERRNO(nmdb_get(db, buf, 66000, buf, sizeof(buf)), -2, EMSGSIZE);
	EXPECT_ERRNO(nmdb_set(db, NULL, 4, U("v"), 1), -1, EINVAL);

	/* Empty value. */
	EXPECT(nmdb_set(db, U("empty"), 5, U(""), 0), 1);
	EXPECT(nmdb_get(db, U("empty"), 5, buf, sizeof(buf)), 0);

	/* Sync and cache-only sets. */
	EXPECT(nmdb_set_sync(db, U("ks"), 2, U("sync"), 4), 1);
	EXPECT(nmdb_get(db, U("ks"), 2, buf, sizeof(buf)), 4);
	CHECK(memcmp(buf, "sync", 4) == 0, "set_sync value read back");
	EXPECT(nmdb_cache_set(db, U("kc"), 2, U("cached"), 6), 1);
	EXPECT(nmdb_cache_get(db, U("kc"), 2, buf, sizeof(buf)), 6);
	CHECK(memcmp(buf, "cached", 6) == 0, "cache_get returns the cached value");
	EXPECT(nmdb_cache_get(db, U("nokc"), 4, buf, sizeof(buf)), -1);
	/* Cache-only values never reach the database. */
	EXPECT(nmdb_cache_del(db, U("kc"), 2), 1);
	EXPECT(nmdb_get(db, U("kc"), 2, buf, sizeof(buf)), -1);

	/* Deletes. */
	EXPECT(nmdb_del(db, U("k1"), 2), 1);
	EXPECT(nmdb_get(db, U("k1"), 2, buf, sizeof(buf)), -1);
	EXPECT(nmdb_del(db, U("never"), 5), 1);
	EXPECT(nmdb_del_sync(db, U("ks"), 2), 1);
	EXPECT(nmdb_del_sync(db, U("ks"), 2), 0);
	EXPECT(nmdb_get(db, U("ks"), 2, buf, sizeof(buf)), -1);
	EXPECT(nmdb_cache_set(db, U("kc2"), 3, U("v"), 1), 1);
	EXPECT(nmdb_cache_del(db, U("kc2"), 3), 1);
	EXPECT(nmdb_cache_del(db, U("kc2"), 3), 0);
}

static void test_cas(nmdb_t *db)
{
	EXPECT(nmdb_set_sync(db, U("c"), 1, U("old"), 3), 1);
	EXPECT(nmdb_cas(db, U("c"), 1, U("old"), 3, U("new"), 3), 2);
	EXPECT(nmdb_get(db, U("c"), 1, buf, sizeof(buf)), 3);
	CHECK(memcmp(buf, "new", 3) == 0, "cas stored the new value");
	EXPECT(nmdb_cas(db, U("c"), 1, U("old"), 3, U("x"), 1), 1);
	EXPECT(nmdb_cas(db, U("nocas"), 5, U("old"), 3, U("x"), 1), 0);

	EXPECT(nmdb_cache_set(db, U("cc"), 2, U("a"), 1), 1);
	EXPECT(nmdb_cache_cas(db, U("cc"), 2, U("a"), 1, U("b"), 1), 2);
	EXPECT(nmdb_cache_get(db, U("cc"), 2, buf, sizeof(buf)), 1);
	CHECK(buf[0] == 'b', "cache_cas stored the new value");
	EXPECT(nmdb_cache_cas(db, U("cc"), 2, U("a"), 1, U("c"), 1), 1);
	EXPECT(nmdb_cache_cas(db, U("nocc"), 4, U("a"), 1, U("c"), 1), 0);
}

static void test_incr(nmdb_t *db)
{
	int64_t n = 0;

	/* Counters are decimal strings ending in a NUL byte. */
	EXPECT(nmdb_set_sync(db, U("n"), 1, U("10"), 3), 1);
	EXPECT(nmdb_incr(db, U("n"), 1, 5, &n), 2);
	EXPECT(n, 15);
	EXPECT(nmdb_incr(db, U("n"), 1, -20, &n), 2);
	EXPECT(n, -5);
	EXPECT(nmdb_incr(db, U("n"), 1, 1, NULL), 2);
	EXPECT(nmdb_get(db, U("n"), 1, buf, sizeof(buf)), 24);
	EXPECT(strtoll((const char *) buf, NULL, 10), -4);
	EXPECT(nmdb_set_sync(db, U("s"), 1, U("abc"), 4), 1);
	EXPECT(nmdb_incr(db, U("s"), 1, 1, &n), 1);
	EXPECT(nmdb_incr(db, U("noincr"), 6, 1, &n), 0);

	EXPECT(nmdb_cache_set(db, U("cn"), 2, U("1"), 2), 1);
	EXPECT(nmdb_cache_incr(db, U("cn"), 2, 41, &n), 2);
	EXPECT(n, 42);
	EXPECT(nmdb_cache_set(db, U("cs"), 2, U("x"), 2), 1);
	EXPECT(nmdb_cache_incr(db, U("cs"), 2, 1, &n), 1);
	EXPECT(nmdb_cache_incr(db, U("nocn"), 4, 1, &n), 0);
}

/* Walks the single server of db and returns how many keys it has; every
 * key must be one of want. */
static int walk(nmdb_t *db, const char **want, int nwant)
{
	unsigned char key[256], next[256];
	ssize_t r;
	int n = 0, i, found;

	r = nmdb_firstkey(db, key, sizeof(key));
	while (r >= 0) {
		found = 0;
		for (i = 0; i < nwant; i++)
			if (strlen(want[i]) == (size_t) r &&
					memcmp(want[i], key, r) == 0)
				found = 1;
		QUIET_CHECK(found, "walk found an unexpected key %.*s",
				(int) r, key);
		n++;
		QUIET_CHECK(n <= nwant, "walk does not end");
		r = nmdb_nextkey(db, key, r, next, sizeof(next));
		memcpy(key, next, r > 0 ? (size_t) r : 0);
	}
	CHECK(r == -1, "the walk ends with -1 (got %zd)", r);
	return n;
}

static void test_walk(int port, nmdb_t *two)
{
	const char *keys[] = {"walk-key-one", "walk-key-two", "walk-key-three"};
	unsigned char key[256], next[256];
	nmdb_t *db = tcp_handle(port);
	ssize_t r;
	int i;

	EXPECT(nmdb_firstkey(db, key, sizeof(key)), -1);
	for (i = 0; i < 3; i++)
		EXPECT(nmdb_set_sync(db, U(keys[i]), strlen(keys[i]),
				U("v"), 1), 1);
	EXPECT(walk(db, keys, 3), 3);
	EXPECT_ERRNO(nmdb_firstkey(db, key, 2), -2, ERANGE);
	r = nmdb_firstkey(db, key, sizeof(key));
	CHECK(r > 0, "firstkey finds a key (%zd)", r);
	/* The first key has a successor, longer than 2 bytes. */
	EXPECT_ERRNO(nmdb_nextkey(db, key, r, next, 2), -2, ERANGE);
	EXPECT_ERRNO(nmdb_firstkey(two, key, sizeof(key)), -2, EINVAL);
	EXPECT_ERRNO(nmdb_nextkey(two, U(keys[0]), strlen(keys[0]), key,
				sizeof(key)), -2, EINVAL);
	for (i = 0; i < 3; i++)
		EXPECT(nmdb_del_sync(db, U(keys[i]), strlen(keys[i])), 1);
	EXPECT(nmdb_firstkey(db, key, sizeof(key)), -1);
	EXPECT(nmdb_free(db), 1);
}

static void test_stats(nmdb_t *db, nmdb_t *two, int deadport)
{
	unsigned int ns = 0, nst = 0;
	nmdb_t *dead;

	EXPECT(nmdb_stats(db, buf, sizeof(buf), &ns, &nst), 1);
	EXPECT(ns, 1);
	CHECK(nst >= 23, "at least the 23 classic counters (got %u)", nst);
	/* Counter 0 is "cache get", 1 "cache set": this program did both. */
	CHECK(be64(buf) > 0, "cache get counter > 0 (%llu)",
			(unsigned long long) be64(buf));
	CHECK(be64(buf + 8) > 0, "cache set counter > 0 (%llu)",
			(unsigned long long) be64(buf + 8));
	EXPECT_ERRNO(nmdb_stats(db, buf, 8, &ns, &nst), -3, ERANGE);
	EXPECT(nmdb_stats(two, buf, sizeof(buf), &ns, &nst), 1);
	EXPECT(ns, 2);
	EXPECT(nmdb_stats(two, buf, 8 * nst, &ns, &nst), -3);

	/* A UDP server that does not answer: a network error. */
	dead = nmdb_init();
	EXPECT(nmdb_add_udp_server(dead, "127.0.0.1", deadport), 1);
	EXPECT_ERRNO(nmdb_stats(dead, buf, sizeof(buf), &ns, &nst), -2, ETIMEDOUT);
	EXPECT(nmdb_free(dead), 1);
}

static void test_read_only(int roport)
{
	nmdb_t *db = tcp_handle(roport);
	int64_t n;

	EXPECT(nmdb_get(db, U("k"), 1, buf, sizeof(buf)), -1);
	/* The server refuses writes: -2 (a server error) and EROFS. */
	EXPECT_ERRNO(nmdb_set(db, U("k"), 1, U("v"), 1), -2, EROFS);
	EXPECT_ERRNO(nmdb_set_sync(db, U("k"), 1, U("v"), 1), -2, EROFS);
	EXPECT_ERRNO(nmdb_cache_set(db, U("k"), 1, U("v"), 1), -2, EROFS);
	EXPECT_ERRNO(nmdb_del(db, U("k"), 1), -2, EROFS);
	EXPECT_ERRNO(nmdb_del_sync(db, U("k"), 1), -2, EROFS);
	EXPECT_ERRNO(nmdb_cache_del(db, U("k"), 1), -2, EROFS);
	EXPECT_ERRNO(nmdb_cas(db, U("k"), 1, U("a"), 1, U("b"), 1), -2, EROFS);
	EXPECT_ERRNO(nmdb_cache_cas(db, U("k"), 1, U("a"), 1, U("b"), 1), -2, EROFS);
	EXPECT_ERRNO(nmdb_incr(db, U("k"), 1, 1, &n), -2, EROFS);
	EXPECT_ERRNO(nmdb_cache_incr(db, U("k"), 1, 1, &n), -2, EROFS);
	EXPECT(nmdb_free(db), 1);
}

/* The same server reached over UDP. */
static void test_udp(int port)
{
	nmdb_t *db = nmdb_init();
	int64_t n;

	EXPECT(nmdb_add_udp_server(db, "127.0.0.1", port), 1);
	EXPECT(nmdb_set_sync(db, U("udp"), 3, U("7"), 2), 1);
	EXPECT(nmdb_get(db, U("udp"), 3, buf, sizeof(buf)), 2);
	EXPECT(nmdb_incr(db, U("udp"), 3, 1, &n), 2);
	EXPECT(n, 8);
	EXPECT(nmdb_cas(db, U("udp"), 3, U("x"), 1, U("y"), 1), 1);
	EXPECT(nmdb_del_sync(db, U("udp"), 3), 1);
	EXPECT(nmdb_del_sync(db, U("udp"), 3), 0);
	EXPECT(nmdb_get(db, U("udp"), 3, buf, sizeof(buf)), -1);
	EXPECT(nmdb_free(db), 1);
}

/* Keys set through a two-server handle land where the classic hash says. */
static void test_sharding(int port1, int port2, nmdb_t *two)
{
	nmdb_t *h[2];
	int ports[2], i, s, on[2] = {0, 0};
	char key[32];
	size_t klen;
	unsigned idx;

	/* Servers in sharding order: same host, so by port, low byte first. */
	if (port_order(port1) < port_order(port2)) {
		ports[0] = port1;
		ports[1] = port2;
	} else {
		ports[0] = port2;
		ports[1] = port1;
	}
	h[0] = tcp_handle(ports[0]);
	h[1] = tcp_handle(ports[1]);
	for (i = 0; i < 64; i++) {
		klen = (size_t) snprintf(key, sizeof(key), "%d-shard", i);
		QUIET_CHECK(nmdb_set_sync(two, U(key), klen, U("v"), 1) == 1,
				"set_sync %s", key);
		idx = key_hash(U(key), klen) % 2;
		for (s = 0; s < 2; s++) {
			ssize_t r = nmdb_get(h[s], U(key), klen, buf, sizeof(buf));
			QUIET_CHECK(r == ((unsigned) s == idx ? 1 : -1),
					"%s on server %d: got %zd", key, s, r);
		}
		on[idx]++;
		QUIET_CHECK(nmdb_del_sync(two, U(key), klen) == 1,
				"del_sync %s", key);
	}
	CHECK(on[0] > 0 && on[1] > 0,
			"64 keys spread over 2 servers by the classic hash "
			"(%d + %d)", on[0], on[1]);
	EXPECT(nmdb_free(h[0]), 1);
	EXPECT(nmdb_free(h[1]), 1);
}

/* A server that is down when added: the add succeeds; in a loop over keys,
 * the first request to it is refused, the later ones fail at once with
 * EHOSTDOWN (marked down), and requests to the other server all work. */
static void test_down_server(int port1, int deadport)
{
	nmdb_t *db = tcp_handle(port1);
	int dead_idx, i, refused = 0, down = 0, ok = 0, other = 0;
	char key[32];
	size_t klen;

	EXPECT(nmdb_add_tcp_server(db, "127.0.0.1", deadport), 1);
	dead_idx = port_order(deadport) < port_order(port1) ? 0 : 1;
	for (i = 0; i < 200; i++) {
		int r;

		klen = (size_t) snprintf(key, sizeof(key), "%d-down", i);
		errno = 0;
		r = nmdb_cache_set(db, U(key), klen, U("v"), 1);
		if ((int) (key_hash(U(key), klen) % 2) != dead_idx) {
			QUIET_CHECK(r == 1, "cache_set %s on the live server: %d, errno %d", key, r, errno);
			ok++;
			continue;
		}
		QUIET_CHECK(r == -1, "cache_set %s on the dead server: %d", key, r);
		if (errno == ECONNREFUSED)
			refused++;
		else if (errno == EHOSTDOWN)
			down++;
		else
			other++;
	}
	CHECK(refused == 1 && down > 0 && other == 0 && ok > 0,
			"a dead server: refused once, then %d requests fail at once "
			"with EHOSTDOWN (refused %d, other %d); %d on the live one work",
			down, refused, other, ok);
	EXPECT(nmdb_free(db), 1);
}

/* The rendezvous rule (libnmdb(3)): FNV-1a, then MurmurHash3's 64-bit
 * finalizer. */
static uint64_t mix64(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

static uint64_t hash64(const unsigned char *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return mix64(h);
}

/* The server of key among 127.0.0.1:ports[0] and :ports[1] (in sharding
 * order) under the rendezvous rule. */
static int rendezvous(const char *key, size_t klen, const int ports[2])
{
	char id[32];
	uint64_t kh = hash64(U(key), klen), w[2];
	int s;

	for (s = 0; s < 2; s++) {
		size_t n = (size_t) snprintf(id, sizeof(id), "127.0.0.1:%d", ports[s]);
		w[s] = mix64(kh ^ hash64(U(id), n));
	}
	return w[1] > w[0];
}

/* count_spread stores 200 user:N keys (cache only) through db, which holds
 * both servers, checks each is on the server want picks (NULL: the classic
 * rule), and counts them per server into on. */
static void count_spread(nmdb_t *db, nmdb_t *h[2], const int ports[2],
		int (*want)(const char *, size_t, const int[2]), int on[2])
{
	char key[32];
	size_t klen;
	int i, s, idx;

	on[0] = on[1] = 0;
	for (i = 0; i < 200; i++) {
		klen = (size_t) snprintf(key, sizeof(key), "user:%d", i);
		QUIET_CHECK(nmdb_cache_set(db, U(key), klen, U("v"), 1) == 1,
				"cache_set %s", key);
		idx = want != NULL ? want(key, klen, ports) :
				(int) (key_hash(U(key), klen) % 2);
		for (s = 0; s < 2; s++) {
			ssize_t r = nmdb_cache_get(h[s], U(key), klen, buf, sizeof(buf));
			QUIET_CHECK(r == (s == idx ? 1 : -1),
					"%s on server %d: got %zd", key, s, r);
		}
		on[idx]++;
		QUIET_CHECK(nmdb_cache_del(db, U(key), klen) == 1,
				"cache_del %s", key);
	}
}

static void test_rendezvous(int port1, int port2)
{
	nmdb_t *h[2], *db;
	int ports[2], on[2];

	if (port_order(port1) < port_order(port2)) {
		ports[0] = port1;
		ports[1] = port2;
	} else {
		ports[0] = port2;
		ports[1] = port1;
	}
	h[0] = tcp_handle(ports[0]);
	h[1] = tcp_handle(ports[1]);

	/* The classic rule reads half of a key: user:N all go one way. */
	db = tcp_handle(port1);
	EXPECT(nmdb_add_tcp_server(db, "127.0.0.1", port2), 1);
	count_spread(db, h, ports, NULL, on);
	CHECK(on[0] == 0 || on[1] == 0,
			"classic: 200 user:N keys on one of 2 servers (%d + %d)",
			on[0], on[1]);
	EXPECT_ERRNO(nmdb_set_sharding(db, "rendezvous"), 0, EBUSY);
	EXPECT(nmdb_free(db), 1);

	db = nmdb_init();
	EXPECT_ERRNO(nmdb_set_sharding(db, "modulo"), 0, EINVAL);
	EXPECT_ERRNO(nmdb_set_sharding(db, NULL), 0, EINVAL);
	EXPECT(nmdb_set_sharding(db, "rendezvous"), 1);
	EXPECT(nmdb_add_tcp_server(db, "127.0.0.1", port1), 1);
	EXPECT(nmdb_add_tcp_server(db, "127.0.0.1", port2), 1);
	count_spread(db, h, ports, rendezvous, on);
	CHECK(on[0] > 60 && on[1] > 60,
			"rendezvous: 200 user:N keys spread over 2 servers (%d + %d)",
			on[0], on[1]);
	EXPECT(nmdb_free(db), 1);

	/* The rule from the environment, read by nmdb_init. */
	setenv("NMDB_SHARDING", "rendezvous", 1);
	db = nmdb_init();
	CHECK(db != NULL, "nmdb_init with NMDB_SHARDING=rendezvous");
	EXPECT(nmdb_add_tcp_server(db, "127.0.0.1", port2), 1);
	EXPECT(nmdb_add_tcp_server(db, "127.0.0.1", port1), 1);
	count_spread(db, h, ports, rendezvous, on);
	CHECK(on[0] > 60 && on[1] > 60,
			"NMDB_SHARDING=rendezvous: keys placed by rendezvous (%d + %d)",
			on[0], on[1]);
	EXPECT(nmdb_free(db), 1);
	setenv("NMDB_SHARDING", "modulo", 1);
	errno = 0;
	db = nmdb_init();
	CHECK(db == NULL && errno == EINVAL,
			"nmdb_init with NMDB_SHARDING=modulo fails with EINVAL");
	unsetenv("NMDB_SHARDING");

	EXPECT(nmdb_free(h[0]), 1);
	EXPECT(nmdb_free(h[1]), 1);
}

int main(int argc, char **argv)
{
	int port1, port2, roport, deadport;
	nmdb_t *db, *two;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc != 5) {
		fprintf(stderr, "usage: %s PORT1 PORT2 ROPORT DEADPORT\n",
				argv[0]);
		return 2;
	}
	port1 = atoi(argv[1]);
	port2 = atoi(argv[2]);
	roport = atoi(argv[3]);
	deadport = atoi(argv[4]);

	test_add_servers(port1, deadport);

	db = tcp_handle(port1);
	two = tcp_handle(port1);
	EXPECT(nmdb_add_tcp_server(two, "127.0.0.1", port2), 1);

	test_get_set_del(db);
	test_cas(db);
	test_incr(db);
	test_udp(port1);
	test_walk(port2, two);
	test_stats(db, two, deadport);
	test_read_only(roport);
	test_sharding(port1, port2, two);
	test_rendezvous(port1, port2);
	test_down_server(port1, deadport);

	EXPECT(nmdb_free(two), 1);
	EXPECT(nmdb_free(db), 1);
	printf("api: all %d checks passed\n", checks_passed);
	return 0;
}
