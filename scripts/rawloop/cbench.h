/*
 * cbench.h: what the C benchmark programs (rawloop, clibbench) share: the
 * clock, the keys ("key:" and zero-padded digits, as nmdb-bench writes
 * them, so the same preloaded keys hit), a latency histogram with a
 * microsecond per bucket, and the result line in the JSON format of
 * nmdb-bench's results (cmd/internal/benchresult), which
 * nmdb-bench-report reads; threads that start their loops together; and
 * the call into the Go floor library
 * (scripts/rawloop/gofloor) that rawloop -g and tipc_rawloop -g add to
 * each request.
 */
#ifndef CBENCH_H
#define CBENCH_H

#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum {
	/* Latencies up to one second, one microsecond apart (longer ones
	 * count in the last bucket). */
	CBENCH_HIST_US = 1000000,
};

/* A tally of measured requests. */
struct cbench_tally {
	uint64_t ops, hits, misses, errs;
	uint32_t hist[CBENCH_HIST_US];
};

/* What a result line says besides the tally. */
struct cbench_labels {
	const char *row, *name, *role, *metric, *client;
	const char *transport; /* NULL: tcp */
	int procs, conns, threads, get;
	long keysize, valsize, keys;
};

/* The wire protocol (see SPEC): what the programs that speak it
 * themselves need. */
enum {
	WIRE_VERSION = 1,
	WIRE_OP_GET = 0x101,
	WIRE_OP_SET = 0x102,
	WIRE_FLAG_CACHE_ONLY = 1,
	WIRE_CACHE_HIT = 0x801,
	WIRE_CACHE_MISS = 0x802,
	WIRE_OK = 0x803,
	WIRE_PREFIX = 4, /* the length before each message on TCP */
};

/* cbench_put32 and cbench_get32 write and read a big-endian word. */
static inline void cbench_put32(unsigned char *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static inline uint32_t cbench_get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline double cbench_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* cbench_tally_new returns a zeroed tally (most of its pages are never
 * touched), or exits. */
static inline struct cbench_tally *cbench_tally_new(void)
{
	struct cbench_tally *t = calloc(1, sizeof(*t));
	if (!t) {
		perror("calloc");
		exit(1);
	}
	return t;
}

/* cbench_record counts one request that took us microseconds. */
static inline void cbench_record(struct cbench_tally *t, double us)
{
	t->hist[us < CBENCH_HIST_US ? (int)us : CBENCH_HIST_US - 1]++;
	t->ops++;
}

/* cbench_merge adds src to dst. */
static inline void cbench_merge(struct cbench_tally *dst, const struct cbench_tally *src)
{
	dst->ops += src->ops;
	dst->hits += src->hits;
	dst->misses += src->misses;
	dst->errs += src->errs;
	for (int i = 0; i < CBENCH_HIST_US; i++)
		dst->hist[i] += src->hist[i];
}

/* cbench_key writes key number i: "key:" and digits filling len bytes
 * (digits only for keys shorter than 5 bytes). */
static inline void cbench_key(unsigned char *dst, long len, uint64_t i)
{
	long start = 0;
	if (len > 4) {
		memcpy(dst, "key:", 4);
		start = 4;
	}
	for (long j = len - 1; j >= start; j--) {
		dst[j] = '0' + i % 10;
		i /= 10;
	}
}

/* cbench_rand steps a xorshift generator. */
static inline uint64_t cbench_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static inline double cbench_percentile(const struct cbench_tally *t, double q)
{
	uint64_t want = (uint64_t)(q * t->ops), seen = 0;
	for (int i = 0; i < CBENCH_HIST_US; i++) {
		seen += t->hist[i];
		if (seen > want)
			return i + 0.5;
	}
	return CBENCH_HIST_US;
}

/* cbench_json_string prints s as a JSON string. */
static inline void cbench_json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = *s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/* cbench_write_line prints the result line of t measured over secs. */
static inline void cbench_write_line(FILE *f, const struct cbench_labels *l,
				     const struct cbench_tally *t, double secs)
{
	fputs("{\"row\":", f);
	cbench_json_string(f, l->row);
	fputs(",\"name\":", f);
	cbench_json_string(f, l->name);
	fputs(",\"role\":", f);
	cbench_json_string(f, l->role);
	fputs(",\"metric\":", f);
	cbench_json_string(f, l->metric);
	fputs(",\"target\":\"nmdb\",\"transport\":", f);
	cbench_json_string(f, l->transport ? l->transport : "tcp");
	fputs(",\"client\":", f);
	cbench_json_string(f, l->client);
	fprintf(f,
		",\"mode\":\"cache\",\"procs\":%d,\"conns\":%d,\"depth\":1,\"threads\":%d,"
		"\"gets\":%d,\"keysize\":%ld,\"valsize\":%ld,\"keys\":%ld,\"ops\":%llu,"
		"\"hits\":%llu,\"misses\":%llu,\"errors\":%llu,\"lost\":0,\"secs\":%.3f,"
		"\"ops_per_sec\":%.1f,\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f}\n",
		l->procs, l->conns, l->threads, l->get, l->keysize, l->valsize, l->keys,
		(unsigned long long)t->ops, (unsigned long long)t->hits,
		(unsigned long long)t->misses, (unsigned long long)t->errs, secs,
		secs > 0 ? t->ops / secs : 0, cbench_percentile(t, 0.5),
		cbench_percentile(t, 0.99), cbench_percentile(t, 0.999));
}

/* cbench_report prints the result line on stdout and appends it to the
 * file out (when not NULL); it exits on a write error. */
static inline void cbench_report(const char *prog, const char *out, const struct cbench_labels *l,
				 const struct cbench_tally *t, double secs)
{
	cbench_write_line(stdout, l, t, secs);
	fflush(stdout);
	if (out) {
		FILE *f = fopen(out, "a");
		if (!f) {
			fprintf(stderr, "%s: ", prog);
			perror(out);
			exit(1);
		}
		cbench_write_line(f, l, t, secs);
		if (ferror(f) || fclose(f) != 0) {
			fprintf(stderr, "%s: writing %s failed\n", prog, out);
			exit(1);
		}
	}
}

/* What cbench_threads gives each thread: the first member of the
 * argument of each thread. */
struct cbench_thread {
	int index;                /* 0 to n - 1 */
	pthread_barrier_t *start; /* every thread waits here before its loop */
};

/* cbench_threads runs fn in n threads, the i-th on the argument at
 * args + i * size, which begins with a struct cbench_thread that it fills
 * in, and returns when all have ended. A thread that cannot be started
 * ends the process; prog names the program in the message. */
static inline void cbench_threads(const char *prog, int n, void *(*fn)(void *), void *args,
				  size_t size)
{
	pthread_barrier_t start;
	pthread_t *tids = calloc(n, sizeof(*tids));
	if (!tids || pthread_barrier_init(&start, NULL, n) != 0) {
		fprintf(stderr, "%s: cannot start %d threads\n", prog, n);
		exit(1);
	}
	for (int i = 0; i < n; i++) {
		struct cbench_thread *th = (struct cbench_thread *)((char *)args + i * size);
		th->index = i;
		th->start = &start;
		int e = pthread_create(&tids[i], NULL, fn, th);
		if (e != 0) {
			fprintf(stderr, "%s: pthread_create: %s\n", prog, strerror(e));
			exit(1);
		}
	}
	for (int i = 0; i < n; i++)
		pthread_join(tids[i], NULL);
	pthread_barrier_destroy(&start);
	free(tids);
}

/* The Go floor library (scripts/rawloop/gofloor, -buildmode=c-shared):
 * what the C library adds to a raw loop's request, and nothing more. */
struct cbench_gofloor {
	void (*start)(int threads); /* GOMAXPROCS as the C library sets it */
	void (*call)(void);         /* the empty call made before each request */
	void (*yield)(void);        /* runtime.Gosched, as nmdbgo_yield */
};

/* cbench_gofloor_load loads the floor library path into g; prog names
 * the program in a message. It exits on failure. */
static inline void cbench_gofloor_load(struct cbench_gofloor *g, const char *prog, const char *path)
{
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		fprintf(stderr, "%s: %s\n", prog, dlerror());
		exit(1);
	}
	*(void **)&g->start = dlsym(h, "gofloor_start");
	*(void **)&g->call = dlsym(h, "gofloor_call");
	*(void **)&g->yield = dlsym(h, "gofloor_yield");
	if (!g->start || !g->call || !g->yield) {
		fprintf(stderr, "%s: %s is not the floor library (gofloor)\n", prog, path);
		exit(1);
	}
}

/* How often a thread yields its P: YIELD_NS of the C library
 * (cgo/shim/nmdb.c), which this must match. */
#define CBENCH_YIELD_NS 8000000ull

static __thread uint64_t cbench_yielded_ns; /* when this thread last yielded */

/* cbench_gofloor_call is what a request of the C library adds to a raw
 * loop's: the thread yields its P when it is due to, as the C library's
 * request_ok does, and calls into Go once. */
static inline void cbench_gofloor_call(const struct cbench_gofloor *g)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	if (cbench_yielded_ns == 0) {
		cbench_yielded_ns = now;
	} else if (now - cbench_yielded_ns >= CBENCH_YIELD_NS) {
		cbench_yielded_ns = now;
		g->yield();
	}
	g->call();
}

#endif /* CBENCH_H */
