/*
 * rawloop: the reference for nmdb's one-request-at-a-time benchmark rows.
 * One TCP connection, one request in flight: build the request frame by
 * hand, send() it, recv() until the reply frame is in, as a plain C client
 * speaking the wire protocol would. Cache-only sets or gets of random keys
 * ("key:" and zero-padded digits, as nmdb-bench writes them), measured for
 * a number of seconds after a warm-up; one JSON line with the rate and the
 * latency percentiles is appended to the result file, in the format of
 * nmdb-bench's results.
 *
 *   rawloop -a HOST:PORT -o get|set -t SECS -w WARMUP -k KEYS -K KEYSIZE
 *           -v VALSIZE -r ROW -R ROLE -n NAME -f RESULTFILE
 *           [-p PROCS | -T THREADS] [-g LIBRARY]
 *   rawloop -1 -a HOST:PORT -o get|set [-k KEYS -K KEYSIZE -v VALSIZE]
 *           [-g LIBRARY]
 *
 * -p PROCS runs that many processes, each with its own connection, which
 * start together; the result line adds them up. -T THREADS does the same
 * with threads of one process. -1 connects, makes one request and exits
 * (0 when it succeeded), as the smallest C program that uses nmdb does:
 * the reference for a program's start cost.
 *
 * -g LIBRARY loads the Go library scripts/rawloop/gofloor (built with
 * -buildmode=c-shared), calls its gofloor_start once before the loops
 * start (with -1: before connecting), and before each request its empty
 * gofloor_call, after gofloor_yield when the thread is due to yield as
 * the C library's threads do: the raw loop plus what a library with a Go
 * core cannot avoid, the floor of the C library's rows.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cbench.h"

enum {
	MAX_MESSAGE = 64 * 1024,
	MAX_PROCS = 256, /* processes or threads */
};

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static int dial(const char *addr)
{
	char host[256];
	const char *colon = strrchr(addr, ':');
	if (!colon || colon - addr >= (long)sizeof(host)) {
		fprintf(stderr, "rawloop: bad address %s\n", addr);
		exit(2);
	}
	memcpy(host, addr, colon - addr);
	host[colon - addr] = 0;
	struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *ai;
	int err = getaddrinfo(host, colon + 1, &hints, &ai);
	if (err) {
		fprintf(stderr, "rawloop: %s: %s\n", addr, gai_strerror(err));
		exit(1);
	}
	int fd = socket(ai->ai_family, ai->ai_socktype, 0);
	if (fd < 0)
		die("socket");
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0)
		die("connect");
	freeaddrinfo(ai);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

enum {
	RBUF = WIRE_PREFIX + MAX_MESSAGE, /* the size of a receive buffer */
};

/* roundtrip sends the frame req and reads until the reply to id is in,
 * into rbuf (RBUF bytes); it returns the reply code. */
static uint32_t roundtrip(int fd, const unsigned char *req, size_t n, uint32_t id,
			  unsigned char *rbuf)
{
	for (size_t off = 0; off < n;) {
		ssize_t w = send(fd, req + off, n - off, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			die("send");
		}
		off += w;
	}
	size_t have = 0;
	for (;;) {
		ssize_t r = recv(fd, rbuf + have, RBUF - have, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			die("recv");
		}
		if (r == 0) {
			fprintf(stderr, "rawloop: connection closed by the server\n");
			exit(1);
		}
		have += r;
		if (have < WIRE_PREFIX)
			continue;
		uint32_t len = cbench_get32(rbuf);
		if (len < WIRE_PREFIX + 8 || len > RBUF) {
			fprintf(stderr, "rawloop: bad frame length %u\n", len);
			exit(1);
		}
		if (have < len)
			continue;
		if ((cbench_get32(rbuf + WIRE_PREFIX) & 0x0FFFFFFF) != id) {
			fprintf(stderr, "rawloop: reply to another request\n");
			exit(1);
		}
		return cbench_get32(rbuf + WIRE_PREFIX + 4);
	}
}

/* A request frame whose key changes from one request to the next. */
struct request {
	unsigned char *buf, *key;
	size_t n;
	uint32_t id;
};

static void request_init(struct request *r, int get, long keysize, long valsize)
{
	r->buf = malloc(WIRE_PREFIX + 16 + keysize + valsize);
	if (!r->buf)
		die("malloc");
	r->n = WIRE_PREFIX + 8 + 4 + (get ? 0 : 4) + keysize + (get ? 0 : valsize);
	r->id = 0;
	cbench_put32(r->buf, r->n);
	cbench_put32(r->buf + WIRE_PREFIX + 4, (uint32_t)(get ? WIRE_OP_GET : WIRE_OP_SET) << 16 | WIRE_FLAG_CACHE_ONLY);
	cbench_put32(r->buf + WIRE_PREFIX + 8, keysize);
	r->key = r->buf + WIRE_PREFIX + 12;
	if (!get) {
		cbench_put32(r->buf + WIRE_PREFIX + 12, valsize);
		r->key += 4;
		memset(r->key + keysize, 'v', valsize);
	}
}

/* request_next sets the key and a new id. */
static void request_next(struct request *r, long keysize, uint64_t key)
{
	cbench_key(r->key, keysize, key);
	r->id = (r->id + 1) & 0x0FFFFFFF;
	if (r->id == 0)
		r->id = 1;
	cbench_put32(r->buf + WIRE_PREFIX, (uint32_t)WIRE_VERSION << 28 | r->id);
}

/* What the loops of a run share: the server, the requests, the times, and
 * the call into the floor library (-g). */
struct config {
	const char *addr;
	int get;
	long keys, keysize, valsize;
	double warmup, secs;
	/* The floor library (-g), or NULL. */
	const struct cbench_gofloor *gofloor;
};

/* run is loop number index of its process (which seeds its random keys)
 * on its own connection fd: requests until warmup + secs seconds from
 * now, those after warmup counted in t. */
static void run(const struct config *c, int fd, int index, struct cbench_tally *t)
{
	struct request req;
	request_init(&req, c->get, c->keysize, c->valsize);
	unsigned char *rbuf = malloc(RBUF);
	if (!rbuf)
		die("malloc");
	uint64_t rng = 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid() ^ (uint64_t)index << 32;
	double start = cbench_now(), measure = start + c->warmup, end = measure + c->secs;
	for (;;) {
		request_next(&req, c->keysize, cbench_rand(&rng) % (uint64_t)c->keys);
		double t0 = cbench_now();
		if (t0 >= end)
			break;
		if (c->gofloor)
			cbench_gofloor_call(c->gofloor);
		uint32_t code = roundtrip(fd, req.buf, req.n, req.id, rbuf);
		if (t0 < measure)
			continue;
		cbench_record(t, (cbench_now() - t0) * 1e6);
		if (code == WIRE_CACHE_HIT)
			t->hits++;
		else if (code == WIRE_CACHE_MISS)
			t->misses++;
		else if (code != WIRE_OK)
			t->errs++;
	}
	free(rbuf);
	free(req.buf);
}

/* once makes one request of a fresh connection: 0 when it succeeded (a
 * miss is a success for a get). */
static int once(const struct config *c)
{
	int fd = dial(c->addr);
	struct request req;
	request_init(&req, c->get, c->keysize, c->valsize);
	unsigned char *rbuf = malloc(RBUF);
	if (!rbuf)
		die("malloc");
	uint64_t rng = 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid();
	request_next(&req, c->keysize, cbench_rand(&rng) % (uint64_t)c->keys);
	uint32_t code = roundtrip(fd, req.buf, req.n, req.id, rbuf);
	close(fd);
	free(rbuf);
	free(req.buf);
	if (code == WIRE_OK || code == WIRE_CACHE_HIT || code == WIRE_CACHE_MISS)
		return 0;
	fprintf(stderr, "rawloop: reply code 0x%x\n", code);
	return 1;
}

/* readall reads n bytes: 0, or -1 at the end of the file or an error. */
static int readall(int fd, void *p, size_t n)
{
	while (n > 0) {
		ssize_t r = read(fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p = (char *)p + r;
		n -= r;
	}
	return 0;
}

/* runprocs runs procs processes, each with a connection of its own; they
 * connect first and start their loops together. Their tallies are added
 * into t; it fails if any process failed. */
static int runprocs(const struct config *c, int procs, struct cbench_tally *t)
{
	struct cbench_tally *shared = mmap(NULL, procs * sizeof(*shared), PROT_READ | PROT_WRITE,
					   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shared == MAP_FAILED)
		die("mmap");
	int ready[2], go[2];
	if (pipe(ready) < 0 || pipe(go) < 0)
		die("pipe");
	pid_t pids[MAX_PROCS];
	for (int i = 0; i < procs; i++) {
		pids[i] = fork();
		if (pids[i] < 0)
			die("fork");
		if (pids[i] == 0) {
			close(ready[0]);
			close(go[1]);
			int fd = dial(c->addr);
			char b = 1;
			if (write(ready[1], &b, 1) != 1)
				die("write");
			/* Start when the parent closes the pipe. */
			while (read(go[0], &b, 1) < 0 && errno == EINTR)
				;
			run(c, fd, 0, &shared[i]);
			close(fd);
			_exit(0);
		}
	}
	close(ready[1]);
	close(go[0]);
	char buf[MAX_PROCS];
	if (readall(ready[0], buf, procs) < 0) {
		fprintf(stderr, "rawloop: a process ended before it was ready\n");
		for (int i = 0; i < procs; i++)
			kill(pids[i], SIGKILL);
		for (int i = 0; i < procs; i++)
			waitpid(pids[i], NULL, 0);
		exit(1);
	}
	close(go[1]);
	close(ready[0]);
	int failed = 0;
	for (int i = 0; i < procs; i++) {
		int st;
		while (waitpid(pids[i], &st, 0) < 0)
			if (errno != EINTR)
				die("waitpid");
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			failed = 1;
		cbench_merge(t, &shared[i]);
	}
	munmap(shared, procs * sizeof(*shared));
	return failed;
}

/* A thread of runthreads. */
struct worker {
	struct cbench_thread th; /* first: see cbench_threads */
	const struct config *c;
	struct cbench_tally *t;
};

static void *work(void *arg)
{
	struct worker *w = arg;
	int fd = dial(w->c->addr);
	pthread_barrier_wait(w->th.start);
	run(w->c, fd, w->th.index, w->t);
	close(fd);
	return NULL;
}

/* runthreads runs threads threads, each with a connection of its own;
 * they connect first and start their loops together. Their tallies are
 * added into t. (A thread that fails ends the process.) */
static void runthreads(const struct config *c, int threads, struct cbench_tally *t)
{
	struct worker ws[MAX_PROCS];
	for (int i = 0; i < threads; i++)
		ws[i] = (struct worker){.c = c, .t = cbench_tally_new()};
	cbench_threads("rawloop", threads, work, ws, sizeof(ws[0]));
	for (int i = 0; i < threads; i++) {
		cbench_merge(t, ws[i].t);
		free(ws[i].t);
	}
}

int main(int argc, char **argv)
{
	const char *op = "get", *row = "", *role = "peer", *name = "raw C loop", *out = NULL,
		   *golib = NULL;
	struct config c = {.addr = "127.0.0.1:26010", .keys = 1000, .keysize = 16, .valsize = 64,
			   .secs = 5, .warmup = 1};
	long procs = 1, threads = 0;
	int one = 0, opt;
	while ((opt = getopt(argc, argv, "1a:o:t:w:k:K:v:r:R:n:f:p:T:g:")) != -1) {
		switch (opt) {
		case '1': one = 1; break;
		case 'a': c.addr = optarg; break;
		case 'o': op = optarg; break;
		case 't': c.secs = atof(optarg); break;
		case 'w': c.warmup = atof(optarg); break;
		case 'k': c.keys = atol(optarg); break;
		case 'K': c.keysize = atol(optarg); break;
		case 'v': c.valsize = atol(optarg); break;
		case 'r': row = optarg; break;
		case 'R': role = optarg; break;
		case 'n': name = optarg; break;
		case 'f': out = optarg; break;
		case 'p': procs = atol(optarg); break;
		case 'T': threads = atol(optarg); break;
		case 'g': golib = optarg; break;
		default:
			fprintf(stderr, "usage: rawloop -a HOST:PORT -o get|set -t SECS -w WARMUP "
					"-k KEYS -K KEYSIZE -v VALSIZE -r ROW -R ROLE -n NAME -f FILE "
					"[-p PROCS | -T THREADS] [-g LIBRARY]\n"
					"       rawloop -1 -a HOST:PORT -o get|set [-k KEYS -K KEYSIZE "
					"-v VALSIZE] [-g LIBRARY]\n");
			return 2;
		}
	}
	c.get = strcmp(op, "get") == 0;
	/* The Go runtime does not survive fork: -g goes with threads only. */
	if ((!c.get && strcmp(op, "set") != 0) || c.keys < 1 || c.keysize < 1 ||
	    c.keysize > 250 || c.valsize < 0 || c.valsize > 60000 || c.secs <= 0 ||
	    c.warmup < 0 || procs < 1 || procs > MAX_PROCS || threads < 0 ||
	    threads > MAX_PROCS || (procs > 1 && (threads > 0 || golib)) || optind != argc) {
		fprintf(stderr, "rawloop: bad arguments\n");
		return 2;
	}
	struct cbench_gofloor gofloor;
	if (golib) {
		cbench_gofloor_load(&gofloor, "rawloop", golib);
		gofloor.start(one || threads == 0 ? 1 : threads);
		c.gofloor = &gofloor;
	}
	if (one)
		return once(&c);
	struct cbench_tally *t = cbench_tally_new();
	int failed = 0;
	if (procs > 1)
		failed = runprocs(&c, procs, t);
	else
		runthreads(&c, threads > 0 ? threads : 1, t);
	struct cbench_labels l = {
		.row = row, .name = name, .role = role, .metric = "ops",
		.client = golib ? "raw-c+go-call" : threads > 0 ? "raw-c-threads" : "raw-c",
		.procs = procs, .conns = procs > 1 ? procs : threads > 0 ? threads : 1,
		.threads = threads, .get = c.get,
		.keysize = c.keysize, .valsize = c.valsize, .keys = c.keys,
	};
	cbench_report("rawloop", out, &l, t, c.secs);
	if (failed) {
		fprintf(stderr, "rawloop: a process failed\n");
		return 1;
	}
	return t->errs ? 1 : 0;
}
