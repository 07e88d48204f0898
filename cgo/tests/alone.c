/*
 * alone.c - calls made one at a time, by one thread and then by 4 threads
 * each with a handle of its own: every call is alone on its connection.
 * run.sh runs it under strace -f -c to count the system calls: each call
 * sends its request and waits for its reply in a blocking read on the
 * calling thread, so that there is one send and one read per call, no
 * poll, and no thread of the runtime is woken per call.
 *
 * usage: alone PORT CALLS      (a server on 127.0.0.1, TCP)
 * Build: cc alone.c -lnmdb
 */
#include <nmdb.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define NTHREADS 4

static int port, calls;

/* loop makes calls cache sets and gets on a handle of its own; it returns
 * NULL, or what failed. */
static void *loop(void *arg)
{
	unsigned char key[32], val[64];
	ssize_t n;
	int i;
	nmdb_t *db = nmdb_init();

	(void) arg;
	if (db == NULL || !nmdb_add_tcp_server(db, "127.0.0.1", port))
		return "nmdb_init or nmdb_add_tcp_server";
	memset(val, 'v', sizeof(val));
	for (i = 0; i < calls / 2; i++) {
		size_t klen = (size_t) snprintf((char *) key, sizeof(key), "alone-%d", i % 100);
		if (nmdb_cache_set(db, key, klen, val, sizeof(val)) != 1)
			return "nmdb_cache_set";
		n = nmdb_cache_get(db, key, klen, val, sizeof(val));
		if (n != (ssize_t) sizeof(val))
			return "nmdb_cache_get";
	}
	nmdb_free(db);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t t[NTHREADS];
	void *res;
	int i;

	if (argc != 3) {
		fprintf(stderr, "usage: alone PORT CALLS\n");
		return 2;
	}
	port = atoi(argv[1]);
	calls = atoi(argv[2]);
	res = loop(NULL);
	CHECK(res == NULL, "one thread: %d calls made one at a time (%s)", calls,
	      res ? (char *) res : "all succeeded");
	for (i = 0; i < NTHREADS; i++)
		CHECK(pthread_create(&t[i], NULL, loop, NULL) == 0, "start thread %d", i);
	for (i = 0; i < NTHREADS; i++) {
		CHECK(pthread_join(t[i], &res) == 0, "join thread %d", i);
		CHECK(res == NULL, "thread %d: %d calls made one at a time (%s)", i, calls,
		      res ? (char *) res : "all succeeded");
	}
	return 0;
}
