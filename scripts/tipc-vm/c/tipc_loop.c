/*
 * tipc_loop.c - one client, one request in flight, over TIPC: the loop of
 * the TIPC benchmark in the test VM (scripts/tipc-vm/bench.sh).
 *
 * Built twice from this one file, so that both programs pick keys, time
 * requests and report in exactly the same way and differ only in how a
 * request travels:
 *
 *   cc -O2 -o tipc_rawloop tipc_loop.c
 *       a plain blocking C client, as the classic C library is: one AF_TIPC
 *       SOCK_RDM socket, each request built by hand and sent with sendto()
 *       to the server's service range {26001, PORT, PORT} (cluster scope),
 *       the reply read with a blocking recvfrom() on the same socket.
 *   cc -O2 -DWITH_NMDB -I cgo -o tipc_libloop tipc_loop.c -lnmdb
 *       the same loop through our C library: nmdb_init(),
 *       nmdb_add_tipc_server(db, PORT), nmdb_cache_set() / nmdb_cache_get().
 *
 * tipc_rawloop -g LIBRARY is the floor under the library's row: the plain
 * client plus one call into the empty Go library scripts/rawloop/gofloor
 * before each request, yielding its P as the C library does (see
 * cbench.h), which is what any library whose core is in Go adds.
 *
 * Cache-only sets or gets of random keys ("key:" and zero-padded digits,
 * as nmdb-bench and scripts/rawloop write them) for a number of seconds
 * after a warm-up; prints one JSON line with the rate and the latency
 * percentiles, in the format of nmdb-bench's results, and appends it to a
 * file when asked.
 *
 *   tipc_rawloop|tipc_libloop -l PORT -o get|set -t SECS -w WARMUP -k KEYS
 *       -K KEYSIZE -v VALSIZE [-P] [-r ROW] [-R ROLE] [-n NAME] [-f FILE]
 *       [-g LIBRARY (tipc_rawloop only)]
 *
 * -P first sets every key once (not measured), so that gets hit.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../rawloop/cbench.h"

#ifdef WITH_NMDB
#include <nmdb.h>
#else
#include <linux/tipc.h>
#include <sys/socket.h>
#include <sys/time.h>
#endif

enum {
	SERVICE_TYPE = 26001,
	MAX_MESSAGE = 70000,
};

/* The outcome of one request, whichever way it went. */
enum result { HIT, MISS, DONE, FAILED };

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static unsigned char value[MAX_MESSAGE];
static unsigned char rbuf[MAX_MESSAGE];

#ifdef WITH_NMDB

static const char *client_kind = "libnmdb-c";
static nmdb_t *db;

static void open_client(int port)
{
	db = nmdb_init();
	if (db == NULL)
		die("nmdb_init");
	if (nmdb_add_tipc_server(db, port) != 1)
		die("nmdb_add_tipc_server");
}

static enum result request(int get, const unsigned char *key, long ksize, long vsize)
{
	if (get) {
		ssize_t n = nmdb_cache_get(db, key, ksize, rbuf, sizeof(rbuf));
		if (n >= 0)
			return HIT;
		return n == -1 ? MISS : FAILED;
	}
	return nmdb_cache_set(db, key, ksize, value, vsize) == 1 ? DONE : FAILED;
}

#else /* the plain blocking client */

static const char *client_kind = "raw-c";
static const struct cbench_gofloor *gofloor; /* -g, or NULL */
static int fd;
static struct sockaddr_tipc server;
static unsigned char req[MAX_MESSAGE];
static uint32_t id;

static void open_client(int port)
{
	fd = socket(AF_TIPC, SOCK_RDM, 0);
	if (fd < 0)
		die("socket(AF_TIPC, SOCK_RDM)");
	/* A lost reply must not hang the benchmark. */
	struct timeval tv = {.tv_sec = 5};
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
		die("SO_RCVTIMEO");
	server.family = AF_TIPC;
	server.addrtype = TIPC_ADDR_NAMESEQ;
	server.scope = TIPC_CLUSTER_SCOPE;
	server.addr.nameseq.type = SERVICE_TYPE;
	server.addr.nameseq.lower = port;
	server.addr.nameseq.upper = port;
}

static enum result request(int get, const unsigned char *key, long ksize, long vsize)
{
	size_t n = 8 + 4 + (get ? 0 : 4) + ksize + (get ? 0 : vsize);
	id = (id + 1) & 0x0FFFFFFF;
	if (id == 0)
		id = 1;
	if (gofloor)
		cbench_gofloor_call(gofloor);
	cbench_put32(req, (uint32_t)WIRE_VERSION << 28 | id);
	cbench_put32(req + 4, (uint32_t)(get ? WIRE_OP_GET : WIRE_OP_SET) << 16 | WIRE_FLAG_CACHE_ONLY);
	cbench_put32(req + 8, ksize);
	if (get) {
		memcpy(req + 12, key, ksize);
	} else {
		cbench_put32(req + 12, vsize);
		memcpy(req + 16, key, ksize);
		memcpy(req + 16 + ksize, value, vsize);
	}
	while (sendto(fd, req, n, 0, (struct sockaddr *)&server, sizeof(server)) < 0) {
		if (errno != EINTR)
			die("sendto");
	}
	for (;;) {
		ssize_t r = recvfrom(fd, rbuf, sizeof(rbuf), 0, NULL, NULL);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			die("recvfrom");
		}
		if (r < 8 || cbench_get32(rbuf) != id)
			continue; /* not the reply to this request */
		switch (cbench_get32(rbuf + 4)) {
		case WIRE_CACHE_HIT:
			return HIT;
		case WIRE_CACHE_MISS:
			return MISS;
		case WIRE_OK:
			return DONE;
		default:
			return FAILED;
		}
	}
}

#endif

int main(int argc, char **argv)
{
	const char *op = "get", *row = "", *role = "peer", *name = NULL, *out = NULL;
	const char *golib = NULL;
	double secs = 3, warmup = 1;
	long keys = 10000, keysize = 16, valsize = 64;
	int port = 10, preload = 0;
	int c;
	while ((c = getopt(argc, argv, "l:o:t:w:k:K:v:Pr:R:n:f:g:")) != -1) {
		switch (c) {
		case 'l': port = atoi(optarg); break;
		case 'o': op = optarg; break;
		case 't': secs = atof(optarg); break;
		case 'w': warmup = atof(optarg); break;
		case 'k': keys = atol(optarg); break;
		case 'K': keysize = atol(optarg); break;
		case 'v': valsize = atol(optarg); break;
		case 'P': preload = 1; break;
		case 'r': row = optarg; break;
		case 'R': role = optarg; break;
		case 'n': name = optarg; break;
		case 'f': out = optarg; break;
		case 'g': golib = optarg; break;
		default:
			fprintf(stderr, "usage: %s -l PORT -o get|set -t SECS -w WARMUP -k KEYS "
					"-K KEYSIZE -v VALSIZE [-P] [-r ROW] [-R ROLE] [-n NAME] "
					"[-f FILE] [-g LIBRARY]\n", argv[0]);
			return 2;
		}
	}
	int get = strcmp(op, "get") == 0;
	if ((!get && strcmp(op, "set") != 0) || keys < 1 || keysize < 1 || keysize > 250 ||
	    valsize < 0 || valsize > 60000 || secs <= 0 || warmup < 0 || port < 0) {
		fprintf(stderr, "%s: bad arguments\n", argv[0]);
		return 2;
	}
#ifdef WITH_NMDB
	if (golib) {
		fprintf(stderr, "%s: -g is for the plain client\n", argv[0]);
		return 2;
	}
#else
	struct cbench_gofloor g;
	if (golib) {
		cbench_gofloor_load(&g, argv[0], golib);
		g.start(1);
		gofloor = &g;
		client_kind = "raw-c+go-call";
	}
#endif
	if (name == NULL)
		name = client_kind;
	memset(value, 'v', sizeof(value));
	open_client(port);

	unsigned char key[256];
	if (preload) {
		for (long i = 0; i < keys; i++) {
			cbench_key(key, keysize, i);
			if (request(0, key, keysize, valsize) != DONE) {
				fprintf(stderr, "%s: preload: set failed\n", argv[0]);
				return 1;
			}
		}
	}

	struct cbench_tally *t = cbench_tally_new();
	uint64_t rng = 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid();
	double start = cbench_now(), measure = start + warmup, end = measure + secs;
	for (;;) {
		cbench_key(key, keysize, cbench_rand(&rng) % (uint64_t)keys);
		double t0 = cbench_now();
		if (t0 >= end)
			break;
		enum result res = request(get, key, keysize, valsize);
		if (t0 < measure)
			continue;
		cbench_record(t, (cbench_now() - t0) * 1e6);
		if (res == HIT)
			t->hits++;
		else if (res == MISS)
			t->misses++;
		else if (res == FAILED)
			t->errs++;
	}
	struct cbench_labels l = {
		.row = row, .name = name, .role = role, .metric = "ops", .client = client_kind,
		.transport = "tipc", .procs = 1, .conns = 1, .threads = 1, .get = get,
		.keysize = keysize, .valsize = valsize, .keys = keys,
	};
	cbench_report(argv[0], out, &l, t, secs);
#ifdef WITH_NMDB
	nmdb_free(db);
#endif
	return t->errs ? 1 : 0;
}
