/*
 * threads.c - one nmdb handle shared by 8 threads. Each thread sets, reads
 * back and increments its own keys and increments a shared counter; the
 * results are checked in each thread and at the end.
 *
 * usage: threads PORT      (a server on 127.0.0.1, TCP)
 * Build: cc threads.c -lnmdb
 */
#include <nmdb.h>

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define NTHREADS 8
#define ROUNDS 200

static nmdb_t *db;

struct result {
	int id;
	int failures;
	char what[200];
};

#define TFAIL(r, ...) do { \
	snprintf((r)->what, sizeof((r)->what), __VA_ARGS__); \
	(r)->failures++; \
	return NULL; \
} while (0)

static void *worker(void *arg)
{
	struct result *res = arg;
	unsigned char key[64], val[64], got[128], shared[64];
	size_t klen, vlen;
	ssize_t n;
	int64_t counter = 0, prev = -1, v;
	int i;

	for (i = 0; i < ROUNDS; i++) {
		klen = (size_t) snprintf((char *) key, sizeof(key),
				"thread-%d-key-%d", res->id, i % 10);
		vlen = (size_t) snprintf((char *) val, sizeof(val),
				"value-%d-%d", res->id, i);
		if (nmdb_set(db, key, klen, val, vlen) != 1)
			TFAIL(res, "set %s", key);
		n = nmdb_get(db, key, klen, got, sizeof(got));
		if (n != (ssize_t) vlen || memcmp(got, val, vlen) != 0)
			TFAIL(res, "get %s: %zd bytes, want %s", key, n, val);

		/* Own counter: every result is known. */
		klen = (size_t) snprintf((char *) key, sizeof(key),
				"thread-%d-counter", res->id);
		if (nmdb_incr(db, key, klen, 2, &v) != 2 || v != counter + 2)
			TFAIL(res, "incr %s: got %lld, want %lld", key,
					(long long) v, (long long) counter + 2);
		counter = v;

		/* Shared counter: results grow in each thread. */
		if (nmdb_incr(db, U("shared-counter"), 14, 1, &v) != 2)
			TFAIL(res, "incr shared-counter");
		if (v <= prev || v > NTHREADS * ROUNDS)
			TFAIL(res, "shared counter went from %lld to %lld",
					(long long) prev, (long long) v);
		prev = v;

		/* A value every thread reads. */
		n = nmdb_get(db, U("shared-value"), 12, shared, sizeof(shared));
		if (n != 6 || memcmp(shared, "shared", 6) != 0)
			TFAIL(res, "get shared-value: %zd", n);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t th[NTHREADS];
	struct result res[NTHREADS];
	unsigned char got[64];
	int i, failed = 0;
	int64_t v;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc != 2) {
		fprintf(stderr, "usage: %s PORT\n", argv[0]);
		return 2;
	}
	db = nmdb_init();
	CHECK(db != NULL, "nmdb_init");
	EXPECT(nmdb_add_tcp_server(db, "127.0.0.1", atoi(argv[1])), 1);
	EXPECT(nmdb_set_sync(db, U("shared-counter"), 14, U("0"), 2), 1);
	EXPECT(nmdb_set_sync(db, U("shared-value"), 12, U("shared"), 6), 1);
	for (i = 0; i < NTHREADS; i++) {
		char key[64];
		size_t klen = (size_t) snprintf(key, sizeof(key),
				"thread-%d-counter", i);
		EXPECT(nmdb_set_sync(db, U(key), klen, U("0"), 2), 1);
	}

	for (i = 0; i < NTHREADS; i++) {
		res[i].id = i;
		res[i].failures = 0;
		res[i].what[0] = '\0';
		EXPECT(pthread_create(&th[i], NULL, worker, &res[i]), 0);
	}
	for (i = 0; i < NTHREADS; i++)
		EXPECT(pthread_join(th[i], NULL), 0);
	for (i = 0; i < NTHREADS; i++) {
		if (res[i].failures)
			printf("thread %d: %s\n", i, res[i].what);
		failed += res[i].failures;
	}
	CHECK(failed == 0, "%d threads x %d rounds of set/get/incr on one "
			"handle", NTHREADS, ROUNDS);

	EXPECT(nmdb_incr(db, U("shared-counter"), 14, 0, &v), 2);
	EXPECT(v, NTHREADS * ROUNDS);
	for (i = 0; i < NTHREADS; i++) {
		char key[64];
		size_t klen = (size_t) snprintf(key, sizeof(key),
				"thread-%d-counter", i);
		EXPECT(nmdb_incr(db, U(key), klen, 0, &v), 2);
		EXPECT(v, 2 * ROUNDS);
		klen = (size_t) snprintf(key, sizeof(key), "thread-%d-key-9", i);
		EXPECT(nmdb_get(db, U(key), klen, got, sizeof(got)) > 0, 1);
	}
	EXPECT(nmdb_free(db), 1);
	printf("threads: all %d checks passed\n", checks_passed);
	return 0;
}
