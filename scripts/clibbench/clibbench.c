/*
 * clibbench: the C library (libnmdb, through nmdb.h and -lnmdb alone) in
 * nmdb's one-request-at-a-time benchmark rows, next to rawloop, the raw C
 * loop. Cache-only sets or gets of random keys ("key:" and zero-padded
 * digits, as nmdb-bench and rawloop write them, so the same preloaded keys
 * hit), measured for a number of seconds after a warm-up; one JSON line
 * with the rate and the latency percentiles is appended to the result
 * file, in the format of nmdb-bench's results.
 *
 *   clibbench -a HOST:PORT -o get|set -t SECS -w WARMUP -k KEYS -K KEYSIZE
 *             -v VALSIZE -r ROW -R ROLE -n NAME -f RESULTFILE
 *             [-T THREADS [-s]]
 *   clibbench -1 -a HOST:PORT -o get|set [-k KEYS -K KEYSIZE -v VALSIZE]
 *   clibbench -x -t SECS -w WARMUP -r ROW -R ROLE -n NAME -C CLIENT
 *             -f RESULTFILE -- PROGRAM ARG...
 *
 * -T THREADS runs that many threads, each with a handle of its own
 * (nmdb_init and nmdb_add_tcp_server in the thread), or all sharing one
 * handle with -s; they start together, and the result adds them up.
 *
 * -1 is a whole program's use of the library: nmdb_init,
 * nmdb_add_tcp_server, one request, nmdb_free, exit (0 when the request
 * succeeded). -x measures the start cost of such programs: it runs PROGRAM
 * (with fork and execvp, one at a time, waiting for each) again and again
 * for SECS seconds after WARMUP seconds, and reports runs per second and
 * the time of a run; a run that exits with a status other than 0 counts
 * as an error. -x never calls the library.
 */
#include <nmdb.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../rawloop/cbench.h"

enum {
	MAX_THREADS = 256,
	VALBUF = 64 * 1024,
};

struct config {
	char host[256];
	int port, get;
	long keys, keysize, valsize;
	double secs, warmup;
};

struct worker {
	struct cbench_thread th; /* first: see cbench_threads */
	const struct config *c;
	nmdb_t *db; /* the shared handle, or NULL for one of its own */
	struct cbench_tally *t;
	const char *failure; /* what failed before the loop */
};

static void die(const char *what)
{
	perror(what);
	exit(1);
}

/* open_handle returns a handle to the server of c, or NULL. */
static nmdb_t *open_handle(const struct config *c)
{
	nmdb_t *db = nmdb_init();
	if (!db)
		return NULL;
	if (!nmdb_add_tcp_server(db, c->host, c->port)) {
		int e = errno;
		nmdb_free(db);
		errno = e;
		return NULL;
	}
	return db;
}

/* request makes one cache-only request of key; it returns 1 for a hit or
 * a set, 0 for a miss, -1 for an error. */
static int request(nmdb_t *db, const struct config *c, const unsigned char *key,
		   const unsigned char *val, unsigned char *buf)
{
	if (c->get) {
		ssize_t n = nmdb_cache_get(db, key, c->keysize, buf, VALBUF);
		return n >= 0 ? 1 : n == -1 ? 0 : -1;
	}
	return nmdb_cache_set(db, key, c->keysize, val, c->valsize) == 1 ? 1 : -1;
}

static void *work(void *arg)
{
	struct worker *w = arg;
	const struct config *c = w->c;
	nmdb_t *db = w->db;
	if (!db) {
		db = open_handle(c);
		if (!db)
			w->failure = "nmdb_init or nmdb_add_tcp_server";
	}
	unsigned char *key = malloc(c->keysize), *val = malloc(c->valsize + 1),
		      *buf = malloc(VALBUF);
	if (!key || !val || !buf)
		w->failure = "malloc";
	else
		memset(val, 'v', c->valsize);
	/* Every thread waits here, also one that failed, so that none is
	 * left waiting for it. */
	pthread_barrier_wait(w->th.start);
	if (w->failure) {
		if (db && !w->db)
			nmdb_free(db);
		free(key);
		free(val);
		free(buf);
		return NULL;
	}
	uint64_t rng = 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid() * 0x100000001b3ull ^
		       (uint64_t)(w->th.index + 1) << 32;
	struct cbench_tally *t = w->t;
	double start = cbench_now(), measure = start + c->warmup, end = measure + c->secs;
	for (;;) {
		cbench_key(key, c->keysize, cbench_rand(&rng) % (uint64_t)c->keys);
		double t0 = cbench_now();
		if (t0 >= end)
			break;
		int r = request(db, c, key, val, buf);
		if (t0 < measure)
			continue;
		cbench_record(t, (cbench_now() - t0) * 1e6);
		if (r < 0)
			t->errs++;
		else if (c->get && r == 1)
			t->hits++;
		else if (c->get)
			t->misses++;
	}
	if (!w->db)
		nmdb_free(db);
	free(key);
	free(val);
	free(buf);
	return NULL;
}

/* loop runs threads threads for c's time; their tallies are added into t.
 * It fails if a thread could not start its loop. */
static int loop(const struct config *c, int threads, int share, struct cbench_tally *t)
{
	nmdb_t *shared = NULL;
	if (share) {
		shared = open_handle(c);
		if (!shared)
			die("clibbench: nmdb_init or nmdb_add_tcp_server");
	}
	struct worker ws[MAX_THREADS];
	for (int i = 0; i < threads; i++)
		ws[i] = (struct worker){.c = c, .db = shared, .t = cbench_tally_new()};
	cbench_threads("clibbench", threads, work, ws, sizeof(ws[0]));
	int failed = 0;
	for (int i = 0; i < threads; i++) {
		if (ws[i].failure) {
			fprintf(stderr, "clibbench: thread %d: %s failed\n", i, ws[i].failure);
			failed = 1;
		}
		cbench_merge(t, ws[i].t);
		free(ws[i].t);
	}
	if (shared)
		nmdb_free(shared);
	return failed;
}

/* once is a whole program's use of the library: 0 when its one request
 * succeeded (a miss is a success for a get). */
static int once(const struct config *c)
{
	nmdb_t *db = open_handle(c);
	if (!db) {
		perror("clibbench: nmdb_init or nmdb_add_tcp_server");
		return 1;
	}
	unsigned char *key = malloc(c->keysize), *val = malloc(c->valsize + 1),
		      *buf = malloc(VALBUF);
	if (!key || !val || !buf)
		die("malloc");
	memset(val, 'v', c->valsize);
	uint64_t rng = 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid();
	cbench_key(key, c->keysize, cbench_rand(&rng) % (uint64_t)c->keys);
	int r = request(db, c, key, val, buf);
	if (r < 0)
		perror("clibbench: request");
	nmdb_free(db);
	free(key);
	free(val);
	free(buf);
	return r < 0;
}

/* runprog runs argv to its end: 0 when it exited with status 0. */
static int runprog(char **argv)
{
	pid_t pid = fork();
	if (pid < 0)
		die("clibbench: fork");
	if (pid == 0) {
		execvp(argv[0], argv);
		perror(argv[0]);
		_exit(127);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			die("clibbench: waitpid");
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* starts runs argv again and again for c's time, the runs that start
 * after the warm-up counted in t; it returns the seconds from the end of
 * the warm-up to the end of the last run. */
static double starts(const struct config *c, char **argv, struct cbench_tally *t)
{
	double measure = cbench_now() + c->warmup, end = measure + c->secs, first = 0, last = 0;
	for (;;) {
		double t0 = cbench_now();
		if (t0 >= end)
			break;
		int r = runprog(argv);
		double t1 = cbench_now();
		if (t0 < measure)
			continue;
		if (t->ops == 0)
			first = t0;
		last = t1;
		cbench_record(t, (t1 - t0) * 1e6);
		if (r < 0) {
			t->errs++;
			if (t->errs == 1)
				fprintf(stderr, "clibbench: %s failed\n", argv[0]);
		}
	}
	return last - first;
}

int main(int argc, char **argv)
{
	const char *addr = "127.0.0.1:26010", *op = "get", *row = "", *role = "nmdb",
		   *name = "nmdb C library", *client = "clib", *out = NULL;
	struct config c = {.keys = 1000, .keysize = 16, .valsize = 64, .secs = 5, .warmup = 1};
	long threads = 1;
	int one = 0, exec = 0, share = 0, opt;
	while ((opt = getopt(argc, argv, "1xsa:o:t:w:k:K:v:r:R:n:C:f:T:")) != -1) {
		switch (opt) {
		case '1': one = 1; break;
		case 'x': exec = 1; break;
		case 's': share = 1; break;
		case 'a': addr = optarg; break;
		case 'o': op = optarg; break;
		case 't': c.secs = atof(optarg); break;
		case 'w': c.warmup = atof(optarg); break;
		case 'k': c.keys = atol(optarg); break;
		case 'K': c.keysize = atol(optarg); break;
		case 'v': c.valsize = atol(optarg); break;
		case 'r': row = optarg; break;
		case 'R': role = optarg; break;
		case 'n': name = optarg; break;
		case 'C': client = optarg; break;
		case 'f': out = optarg; break;
		case 'T': threads = atol(optarg); break;
		default:
			fprintf(stderr,
				"usage: clibbench -a HOST:PORT -o get|set -t SECS -w WARMUP -k KEYS "
				"-K KEYSIZE -v VALSIZE -r ROW -R ROLE -n NAME -f FILE [-T THREADS [-s]]\n"
				"       clibbench -1 -a HOST:PORT -o get|set [-k KEYS -K KEYSIZE "
				"-v VALSIZE]\n"
				"       clibbench -x -t SECS -w WARMUP -r ROW -R ROLE -n NAME -C CLIENT "
				"-f FILE -- PROGRAM ARG...\n");
			return 2;
		}
	}
	c.get = strcmp(op, "get") == 0;
	if ((!c.get && strcmp(op, "set") != 0) || c.keys < 1 || c.keysize < 1 ||
	    c.keysize > 250 || c.valsize < 0 || c.valsize > 60000 || c.secs <= 0 ||
	    c.warmup < 0 || threads < 1 || threads > MAX_THREADS || one + exec > 1 ||
	    (exec ? optind >= argc : optind != argc)) {
		fprintf(stderr, "clibbench: bad arguments\n");
		return 2;
	}
	if (exec) {
		struct cbench_tally *t = cbench_tally_new();
		double secs = starts(&c, argv + optind, t);
		struct cbench_labels l = {
			.row = row, .name = name, .role = role, .metric = "runs", .client = client,
			.procs = 1, .conns = 1, .threads = 0, .get = c.get,
			.keysize = c.keysize, .valsize = c.valsize, .keys = c.keys,
		};
		cbench_report("clibbench", out, &l, t, secs);
		return t->errs || t->ops == 0 ? 1 : 0;
	}
	const char *colon = strrchr(addr, ':');
	if (!colon || colon == addr || colon - addr >= (long)sizeof(c.host) ||
	    (c.port = atoi(colon + 1)) <= 0 || c.port > 65535) {
		fprintf(stderr, "clibbench: bad address %s (want HOST:PORT)\n", addr);
		return 2;
	}
	memcpy(c.host, addr, colon - addr);
	c.host[colon - addr] = 0;
	if (one)
		return once(&c);
	struct cbench_tally *t = cbench_tally_new();
	int failed = loop(&c, threads, share, t);
	struct cbench_labels l = {
		.row = row, .name = name, .role = role, .metric = "ops", .client = client,
		.procs = 1, .conns = share ? 1 : threads, .threads = threads, .get = c.get,
		.keysize = c.keysize, .valsize = c.valsize, .keys = c.keys,
	};
	cbench_report("clibbench", out, &l, t, c.secs);
	return failed || t->errs ? 1 : 0;
}
