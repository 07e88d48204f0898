/*
 * tipc_client.c - scenario 5 of the TIPC test VM: a C program built with
 * nothing but <nmdb.h> and -lnmdb that uses a server on another node of the
 * cluster through its TIPC port.
 *
 *     tipc_client PORT
 *
 * Prints one line per check and exits 0 when all of them passed.
 */

#include <nmdb.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;
static int checks;

static void check(int ok, const char *what, long got, long want)
{
	checks++;
	if (ok) {
		printf("ok   %s\n", what);
	} else {
		printf("FAIL %s: got %ld, want %ld\n", what, got, want);
		failures++;
	}
}

#define K(s) (const unsigned char *)(s), strlen(s)

static void expect_ret(const char *what, long got, long want)
{
	check(got == want, what, got, want);
}

static void expect_value(nmdb_t *db, const char *what, const char *key,
		const char *want)
{
	unsigned char buf[256];
	ssize_t n = nmdb_get(db, K(key), buf, sizeof(buf));
	int ok = n == (ssize_t)strlen(want) && memcmp(buf, want, n) == 0;
	check(ok, what, (long)n, (long)strlen(want));
}

int main(int argc, char **argv)
{
	int port;
	nmdb_t *db;
	unsigned char buf[256];
	unsigned char big[60000];
	unsigned char *back;
	int64_t nv = 0;
	ssize_t n;
	int attempt;

	if (argc != 2) {
		fprintf(stderr, "usage: %s PORT\n", argv[0]);
		return 2;
	}
	port = atoi(argv[1]);

	db = nmdb_init();
	if (db == NULL) {
		printf("FAIL nmdb_init returned NULL\n");
		return 1;
	}
	expect_ret("nmdb_add_tipc_server", nmdb_add_tipc_server(db, port), 1);

	/* The server may still be settling: wait for a first answer. */
	for (attempt = 0; attempt < 20; attempt++) {
		n = nmdb_get(db, K("c-probe"), buf, sizeof(buf));
		if (n == -1)
			break;
	}
	expect_ret("get absent key", (long)n, -1);

	/* set / get / del in every mode. */
	expect_ret("set", nmdb_set(db, K("c-key"), K("value-1")), 1);
	expect_value(db, "get after set", "c-key", "value-1");
	expect_ret("set_sync", nmdb_set_sync(db, K("c-key"), K("value-2")), 1);
	expect_value(db, "get after set_sync", "c-key", "value-2");
	n = nmdb_get(db, K("c-key"), buf, 3);
	expect_ret("get into a too small buffer", (long)n, -2);
	expect_ret("del", nmdb_del(db, K("c-key")), 1);
	expect_ret("get after del", (long)nmdb_get(db, K("c-key"), buf, sizeof(buf)), -1);
	expect_ret("set_sync again", nmdb_set_sync(db, K("c-key"), K("v")), 1);
	expect_ret("del_sync present", nmdb_del_sync(db, K("c-key")), 1);
	expect_ret("del_sync absent", nmdb_del_sync(db, K("c-key")), 0);
	expect_ret("cache_set", nmdb_cache_set(db, K("c-cache"), K("cv")), 1);
	n = nmdb_cache_get(db, K("c-cache"), buf, sizeof(buf));
	check(n == 2 && memcmp(buf, "cv", 2) == 0, "cache_get", (long)n, 2);
	expect_ret("cache_del present", nmdb_cache_del(db, K("c-cache")), 1);
	expect_ret("cache_del absent", nmdb_cache_del(db, K("c-cache")), 0);
	expect_ret("cache_get absent", (long)nmdb_cache_get(db, K("c-cache"), buf, sizeof(buf)), -1);

	/* A large value crosses the link whole. */
	for (n = 0; n < (ssize_t)sizeof(big); n++)
		big[n] = (unsigned char)(n * 7);
	expect_ret("set 60000-byte value", nmdb_set(db, K("c-big"), big, sizeof(big)), 1);
	back = malloc(sizeof(big));
	n = back ? nmdb_get(db, K("c-big"), back, sizeof(big)) : -3;
	check(n == (ssize_t)sizeof(big) && memcmp(back, big, sizeof(big)) == 0,
		"get 60000-byte value", (long)n, (long)sizeof(big));
	free(back);

	/* cas */
	expect_ret("set for cas", nmdb_set(db, K("c-cas"), K("old")), 1);
	expect_ret("cas mismatch", nmdb_cas(db, K("c-cas"), K("nope"), K("new")), 1);
	expect_ret("cas swap", nmdb_cas(db, K("c-cas"), K("old"), K("new")), 2);
	expect_ret("cas absent", nmdb_cas(db, K("c-none"), K("a"), K("b")), 0);
	expect_value(db, "get after cas", "c-cas", "new");

	/* incr: counters are decimal strings with a terminating NUL. */
	expect_ret("set counter", nmdb_set(db, (const unsigned char *)"c-num", 5,
		(const unsigned char *)"41", 3), 1);
	expect_ret("incr", nmdb_incr(db, K("c-num"), 1, &nv), 2);
	expect_ret("incr new value", (long)nv, 42);
	expect_ret("incr by -50", nmdb_incr(db, K("c-num"), -50, &nv), 2);
	expect_ret("incr new value", (long)nv, -8);
	expect_ret("incr not a number", nmdb_incr(db, K("c-cas"), 1, NULL), 1);
	expect_ret("incr absent", nmdb_incr(db, K("c-none"), 1, NULL), 0);

	/* The walk over this single server sees the stored keys. */
	n = nmdb_firstkey(db, buf, sizeof(buf));
	check(n > 0, "firstkey", (long)n, 1);

	expect_ret("nmdb_free", nmdb_free(db), 1);
	printf("%d checks, %d failed\n", checks, failures);
	return failures == 0 ? 0 : 1;
}
