/*
 * nmdb.h - C interface to the nmdb client library (libnmdb).
 *
 * Programs written against the classic libnmdb build unchanged:
 *
 *     #include <nmdb.h>
 *     cc prog.c -lnmdb
 *
 * A handle (nmdb_t *) may be shared by several threads: every function
 * below is safe to call concurrently on one handle; threads whose calls
 * overlap use connections of their own to a server (up to 16 per server,
 * opened as needed). See libnmdb(3).
 *
 * Errors: a function that fails also sets errno (EINVAL bad argument or
 * handle, ENXIO unknown host, ECONNREFUSED and the like from the network,
 * ETIMEDOUT no reply in time, EMSGSIZE key or value too big, ERANGE the
 * buffer is too small, ENOTCONN no server, EROFS the server is read-only,
 * EIO another server error, ...); see ERRORS in libnmdb(3).
 *
 * fork(): the library starts its runtime on the first nmdb_init() of a
 * process, so a program that forks before that works in the child as if
 * it had never forked. In a child of a process that used the library:
 *   - every call on a handle of the parent fails at once (the error return
 *     value, 0 for the add functions) with errno ESTALE; nmdb_free() on it
 *     releases its memory and returns 1;
 *   - nmdb_init() makes a new handle that works (shared library), or
 *     returns NULL at once with errno ENOTSUP (static library, libnmdb.a).
 * No call ever hangs because of a fork. See FORK in libnmdb(3).
 */

#ifndef NMDB_H
#define NMDB_H

#include <sys/types.h>	/* ssize_t */
#include <stddef.h>	/* size_t */
#include <stdint.h>	/* int64_t */

#ifdef __cplusplus
extern "C" {
#endif

/* Opaque connection handle, created by nmdb_init() and released by
 * nmdb_free(). */
typedef struct nmdb_t nmdb_t;

/* Handle life cycle and servers. nmdb_init() returns NULL on failure
 * (errno ENOMEM; ENOTSUP or ELIBACC when the library cannot start, see
 * above). The add functions return 1 on success and 0 on failure; a port
 * of -1 selects the default (TIPC instance 10, IP port 26010). */
nmdb_t *nmdb_init(void);
int nmdb_add_tipc_server(nmdb_t *db, int port);
int nmdb_add_tcp_server(nmdb_t *db, const char *addr, int port);
int nmdb_add_udp_server(nmdb_t *db, const char *addr, int port);
int nmdb_add_sctp_server(nmdb_t *db, const char *addr, int port);
int nmdb_free(nmdb_t *db);

/* Sharding rule of the handle: "classic" (the default, the rule of classic
 * nmdb clients) or "rendezvous" (spreads keys evenly, moves few keys when
 * servers are added or removed). Call it before adding servers; nmdb_init()
 * applies the environment variable NMDB_SHARDING this way, and fails (NULL,
 * errno EINVAL) when it names no rule. 1 on success; 0 on failure, with
 * errno EINVAL for an unknown rule and EBUSY once servers were added. See
 * libnmdb(3). */
int nmdb_set_sharding(nmdb_t *db, const char *rule);

/* Get: the size of the value copied into val; -1 if the key is not found;
 * -2 on error, also when the value does not fit in vsize bytes. */
ssize_t nmdb_get(nmdb_t *db, const unsigned char *key, size_t ksize,
		unsigned char *val, size_t vsize);
ssize_t nmdb_cache_get(nmdb_t *db, const unsigned char *key, size_t ksize,
		unsigned char *val, size_t vsize);

/* Set: 1 on success, < 0 on error. */
int nmdb_set(nmdb_t *db, const unsigned char *key, size_t ksize,
		const unsigned char *val, size_t vsize);
int nmdb_set_sync(nmdb_t *db, const unsigned char *key, size_t ksize,
		const unsigned char *val, size_t vsize);
int nmdb_cache_set(nmdb_t *db, const unsigned char *key, size_t ksize,
		const unsigned char *val, size_t vsize);

/* Del: 1 on success; nmdb_del_sync() and nmdb_cache_del() return 0 if the
 * key was absent; < 0 on error. */
int nmdb_del(nmdb_t *db, const unsigned char *key, size_t ksize);
int nmdb_del_sync(nmdb_t *db, const unsigned char *key, size_t ksize);
int nmdb_cache_del(nmdb_t *db, const unsigned char *key, size_t ksize);

/* Compare and swap: 2 swapped, 1 the value did not match, 0 the key is
 * absent, < 0 on error. */
int nmdb_cas(nmdb_t *db, const unsigned char *key, size_t ksize,
		const unsigned char *oldval, size_t ovsize,
		const unsigned char *newval, size_t nvsize);
int nmdb_cache_cas(nmdb_t *db, const unsigned char *key, size_t ksize,
		const unsigned char *oldval, size_t ovsize,
		const unsigned char *newval, size_t nvsize);

/* Increment: 2 done (*newval set when newval is not NULL), 1 the stored
 * value is not a number, 0 the key is absent, < 0 on error. */
int nmdb_incr(nmdb_t *db, const unsigned char *key, size_t ksize,
		int64_t increment, int64_t *newval);
int nmdb_cache_incr(nmdb_t *db, const unsigned char *key, size_t ksize,
		int64_t increment, int64_t *newval);

/* Key walk (the handle must hold exactly one server): the size of the key
 * copied into the buffer; -1 when there are no more keys; -2 on error,
 * also when the key does not fit or the handle has several servers. */
ssize_t nmdb_firstkey(nmdb_t *db, unsigned char *key, size_t ksize);
ssize_t nmdb_nextkey(nmdb_t *db, const unsigned char *key, size_t ksize,
		unsigned char *newkey, size_t nksize);

/* Statistics of every server: 1 ok, buf holds *nservers x *nstats
 * 64-bit counters in network byte order; -1 a server replied with an
 * error; -2 network error; -3 buf is too small; -4 the servers disagree on
 * the number of counters. */
int nmdb_stats(nmdb_t *db, unsigned char *buf, size_t bsize,
		unsigned int *nservers, unsigned int *nstats);

#ifdef __cplusplus
}
#endif

#endif /* NMDB_H */
