/*
 * The C layer of libnmdb: the functions of nmdb.h, forwarding to the Go
 * core (the nmdbgo_ functions of ../nmdb.go).
 *
 * The Go runtime does not survive fork(): a child has only the thread that
 * forked, and any call into a runtime started by its parent waits forever
 * for threads that are gone. So this layer starts the Go core on the first
 * nmdb_init() of a process, not when the library is loaded, and remembers
 * which process started it:
 *
 *   - shared library (this file built alone): the core is a Go c-shared
 *     library, nmdb/libnmdb-core.so.1 in the directory of libnmdb.so.1,
 *     loaded with dlopen() on first use. A child whose parent had already
 *     started the core loads a fresh copy with dlmopen(LM_ID_NEWLM), which
 *     starts a runtime of its own in that process;
 *   - static library (built with -DNMDB_STATIC): the core is linked in, with
 *     the entry that would start its runtime at load time taken out; the
 *     first nmdb_init() calls that entry (NMDB_GO_RT0) itself. A child whose
 *     parent had already started the core cannot start another one:
 *     nmdb_init() fails there at once with ENOTSUP.
 *
 * A handle belongs to the process that made it: in any other process (a
 * child after fork()) every call on it fails at once with ESTALE, and
 * nmdb_free() only releases its memory.
 *
 * The core reports the errno value of a failure through its last argument;
 * this layer sets errno from it, in the caller's thread.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "nmdb.h"
#include "core.h" /* the prototypes cgo generates for the core */

#define API __attribute__((visibility("default")))

/* Kinds of server and request modes, as ../nmdb.go numbers them. */
enum { KIND_TIPC, KIND_TCP, KIND_UDP, KIND_SCTP };
enum { MODE_PLAIN, MODE_SYNC, MODE_CACHE };

/* The core's entry points. */
#define CORE_FUNCS(X) X(new) X(free) X(add) X(get) X(set) X(del) X(cas) \
	X(incr) X(firstkey) X(nextkey) X(stats) X(sharding) X(yield)

struct core {
	pid_t pid; /* the process that started it */
#define CORE_FIELD(n) __typeof__(&nmdbgo_##n) n;
	CORE_FUNCS(CORE_FIELD)
};

/* The layout behind the opaque nmdb_t of nmdb.h. */
struct nmdb_t {
	pid_t pid;                /* the process that made the handle */
	const struct core *core;  /* the core of that process */
	uintptr_t h;              /* the core's handle */
};

/* The core of the last process that started one; core_mu serializes
 * starting it. A failure to start it is remembered per process. */
static pthread_mutex_t core_mu = PTHREAD_MUTEX_INITIALIZER;
static struct core *core_cur;
static pid_t core_failed_pid;
static int core_failed_errno;

/* fork() waits while another thread starts the core, so that a child sees
 * either no core or a started one, never half a load. The child gets a
 * fresh lock. */
static void core_atfork_prepare(void)
{
	pthread_mutex_lock(&core_mu);
}

static void core_atfork_parent(void)
{
	pthread_mutex_unlock(&core_mu);
}

/* This process's pid, 0 until known: getpid() is a system call, too dear
 * for every request. A child made by fork(3) or daemon(3) forgets it in
 * the atfork handler below. (A process made by a raw clone or fork system
 * call, which runs no atfork handler, cannot use the C library safely
 * anyway.) */
static pid_t self_pid;

static pid_t my_pid(void)
{
	pid_t pid = __atomic_load_n(&self_pid, __ATOMIC_RELAXED);

	if (pid == 0) {
		pid = getpid();
		__atomic_store_n(&self_pid, pid, __ATOMIC_RELAXED);
	}
	return pid;
}

static void core_atfork_child(void)
{
	pthread_mutex_init(&core_mu, NULL);
	__atomic_store_n(&self_pid, 0, __ATOMIC_RELAXED);
}

#ifdef NMDB_STATIC

/* The Go runtime's library entry, run at load time by an unmodified Go
 * archive; called here on first use with what the C runtime gave the
 * program's constructors. */
void NMDB_GO_RT0(int argc, char **argv, char **envp);

static int saved_argc;
static char **saved_argv;
static char **saved_envp;
/* argc 0, no arguments, no environment, no auxiliary vector (the Go
 * runtime then reads /proc/self/auxv). */
static char *no_args[4];

__attribute__((constructor))
static void nmdb_save_args(int argc, char **argv, char **envp)
{
	saved_argc = argc;
	saved_argv = argv;
	saved_envp = envp;
	pthread_atfork(core_atfork_prepare, core_atfork_parent,
			core_atfork_child);
}

static struct core *core_start(int fresh, int *err)
{
	static struct core c;

	if (fresh) {
		/* The runtime linked into the program was started by an
		 * ancestor: it cannot start again here. */
		*err = ENOTSUP;
		return NULL;
	}
	if (saved_argv == NULL)
		NMDB_GO_RT0(0, no_args, no_args + 1);
	else
		NMDB_GO_RT0(saved_argc, saved_argv, saved_envp);
#define CORE_SET(n) c.n = nmdbgo_##n;
	CORE_FUNCS(CORE_SET)
	return &c;
}

#else /* shared library */

__attribute__((constructor))
static void nmdb_setup(void)
{
	pthread_atfork(core_atfork_prepare, core_atfork_parent,
			core_atfork_child);
}

/* core_path writes the path of the core into buf: nmdb/libnmdb-core.so.1
 * in the directory this library was loaded from. */
static int core_path(char *buf, size_t n)
{
	Dl_info info;
	const char *slash;
	int len;

	if (!dladdr((void *) &core_path, &info) || info.dli_fname == NULL)
		return -1;
	slash = strrchr(info.dli_fname, '/');
	if (slash == NULL)
		len = snprintf(buf, n, "nmdb/libnmdb-core.so.1");
	else
		len = snprintf(buf, n, "%.*s/nmdb/libnmdb-core.so.1",
				(int) (slash - info.dli_fname), info.dli_fname);
	return len > 0 && (size_t) len < n ? 0 : -1;
}

static struct core *core_start(int fresh, int *err)
{
	char path[PATH_MAX];
	struct core *c;
	void *lib;

	if (core_path(path, sizeof(path)) != 0) {
		*err = ELIBACC;
		return NULL;
	}
	/* A child of a process that started the core cannot use that copy:
	 * its runtime's threads are gone. A copy in a new link map has
	 * its own runtime, started when it loads. */
	if (fresh)
		lib = dlmopen(LM_ID_NEWLM, path, RTLD_NOW | RTLD_LOCAL);
	else
		lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (lib == NULL) {
		*err = fresh ? ENOTSUP : ELIBACC;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		*err = ENOMEM;
		return NULL;
	}
#define CORE_SYM(n) \
	if ((*(void **) &c->n = dlsym(lib, "nmdbgo_" #n)) == NULL) { \
		free(c); \
		*err = ELIBBAD; \
		return NULL; \
	}
	CORE_FUNCS(CORE_SYM)
	return c;
}

#endif

/* core_get returns the core of this process, starting it if needed, or
 * NULL with *err set. */
static const struct core *core_get(int *err)
{
	pid_t pid = getpid();
	struct core *c = __atomic_load_n(&core_cur, __ATOMIC_ACQUIRE);

	if (c != NULL && c->pid == pid)
		return c;
	pthread_mutex_lock(&core_mu);
	c = core_cur;
	if (c == NULL || c->pid != pid) {
		if (core_failed_pid == pid) {
			*err = core_failed_errno;
			c = NULL;
		} else if ((c = core_start(c != NULL, err)) != NULL) {
			c->pid = pid;
			__atomic_store_n(&core_cur, c, __ATOMIC_RELEASE);
		} else {
			core_failed_pid = pid;
			core_failed_errno = *err;
		}
	}
	pthread_mutex_unlock(&core_mu);
	return c;
}

/* usable reports whether db may be used by this process, setting errno
 * when it may not. */
static int usable(const nmdb_t *db)
{
	if (db == NULL) {
		errno = EINVAL;
		return 0;
	}
	if (db->pid != my_pid()) {
		errno = ESTALE;
		return 0;
	}
	return 1;
}

/*
 * A C thread calling into the core runs on a goroutine of its own, which
 * keeps the runtime's P it ran on from one call to the next: the Go
 * scheduler never schedules it anew, so the runtime's monitor (sysmon)
 * takes it for a goroutine running for over 10 ms, takes its P away, and
 * then wakes every 20 us for a while in case it must do so again. So each
 * thread yields its P (nmdbgo_yield) before a request when it last did so
 * YIELD_NS ago or more: two thread switches every few milliseconds instead
 * of thousands of the monitor's wake-ups a second. Per thread, not per
 * handle or connection: it is the thread's goroutine that must be
 * scheduled anew, whichever handle or connection it uses. The benchmarks'
 * floor (CBENCH_YIELD_NS in scripts/rawloop/cbench.h) yields as often: the two
 * must match.
 */
#define YIELD_NS 8000000ull /* below the monitor's 10 ms */

static __thread uint64_t yielded_ns; /* when this thread last yielded */

/* request_ok is usable(db) for a request: when db may be used, the
 * calling thread also yields its P if it is due to. */
static int request_ok(const nmdb_t *db)
{
	struct timespec ts;
	uint64_t now;

	if (!usable(db))
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t) ts.tv_sec * 1000000000ull + (uint64_t) ts.tv_nsec;
	if (yielded_ns == 0) {
		yielded_ns = now; /* a thread's first request: nothing to yield */
	} else if (now - yielded_ns >= YIELD_NS) {
		yielded_ns = now;
		db->core->yield();
	}
	return 1;
}

/* DONE evaluates call, a call to the core that stores the errno value of
 * a failure in e, sets errno from e if it did, and returns the call's
 * result. */
#define DONE(call) do { \
	__typeof__(call) ret_ = (call); \
	if (e != 0) \
		errno = e; \
	return ret_; \
} while (0)

#define U(p) ((unsigned char *) (p))

API nmdb_t *nmdb_init(void)
{
	int err = 0;
	const struct core *c = core_get(&err);
	const char *rule = getenv("NMDB_SHARDING");
	nmdb_t *db;

	if (c == NULL) {
		errno = err;
		return NULL;
	}
	db = malloc(sizeof(*db));
	if (db == NULL)
		return NULL;
	db->pid = c->pid;
	db->core = c;
	db->h = c->new();
	if (rule != NULL && *rule != '\0' && !nmdb_set_sharding(db, rule)) {
		err = errno;
		nmdb_free(db);
		errno = err;
		return NULL;
	}
	return db;
}

API int nmdb_set_sharding(nmdb_t *db, const char *rule)
{
	int e = 0;
	uintptr_t h;

	if (!usable(db))
		return 0;
	h = db->core->sharding(db->h, (char *) rule, &e);
	if (h == 0) {
		errno = e;
		return 0;
	}
	db->h = h;
	return 1;
}

API int nmdb_free(nmdb_t *db)
{
	if (db == NULL)
		return 1;
	/* In another process the core that holds the handle is not
	 * running: only the memory is ours to release. */
	if (db->pid == my_pid())
		db->core->free(db->h);
	free(db);
	return 1;
}

static int add(nmdb_t *db, int kind, const char *addr, int port)
{
	int e = 0;

	if (!usable(db))
		return 0;
	DONE(db->core->add(db->h, kind, (char *) addr, port, &e));
}

API int nmdb_add_tipc_server(nmdb_t *db, int port)
{
	return add(db, KIND_TIPC, NULL, port);
}

API int nmdb_add_tcp_server(nmdb_t *db, const char *addr, int port)
{
	return add(db, KIND_TCP, addr, port);
}

API int nmdb_add_udp_server(nmdb_t *db, const char *addr, int port)
{
	return add(db, KIND_UDP, addr, port);
}

API int nmdb_add_sctp_server(nmdb_t *db, const char *addr, int port)
{
	return add(db, KIND_SCTP, addr, port);
}

static ssize_t get(nmdb_t *db, int mode, const unsigned char *key,
		size_t ksize, unsigned char *val, size_t vsize)
{
	int e = 0;

	if (!request_ok(db))
		return -2;
	DONE(db->core->get(db->h, mode, U(key), ksize, val, vsize, &e));
}

API ssize_t nmdb_get(nmdb_t *db, const unsigned char *key, size_t ksize,
		unsigned char *val, size_t vsize)
{
	return get(db, MODE_PLAIN, key, ksize, val, vsize);
}

API ssize_t nmdb_cache_get(nmdb_t *db, const unsigned char *key, size_t ksize,
		unsigned char *val, size_t vsize)
{
	return get(db, MODE_CACHE, key, ksize, val, vsize);
}

static int set(nmdb_t *db, int mode, const unsigned char *key, size_t ksize,
		const unsigned char *val, size_t vsize)
{
	int e = 0;

	if (!request_ok(db))
		return -1;
	DONE(db->core->set(db->h, mode, U(key), ksize, U(val), vsize, &e));
}

API int nmdb_set(nmdb_t *db, const unsigned char *key, size_t ksize,
		const unsigned char *val, size_t vsize)
{
	return set(db, MODE_PLAIN, key, ksize, val, vsize);
}

API int nmdb_set_sync(nmdb_t *db, const unsigned char *key, size_t ksize,
		const unsigned char *val, size_t vsize)
{
	return set(db, MODE_SYNC, key, ksize, val, vsize);
}

API int nmdb_cache_set(nmdb_t *db, const unsigned char *key, size_t ksize,
		const unsigned char *val, size_t vsize)
{
	return set(db, MODE_CACHE, key, ksize, val, vsize);
}

static int del(nmdb_t *db, int mode, const unsigned char *key, size_t ksize)
{
	int e = 0;

	if (!request_ok(db))
		return -1;
	DONE(db->core->del(db->h, mode, U(key), ksize, &e));
}

API int nmdb_del(nmdb_t *db, const unsigned char *key, size_t ksize)
{
	return del(db, MODE_PLAIN, key, ksize);
}

API int nmdb_del_sync(nmdb_t *db, const unsigned char *key, size_t ksize)
{
	return del(db, MODE_SYNC, key, ksize);
}

API int nmdb_cache_del(nmdb_t *db, const unsigned char *key, size_t ksize)
{
	return del(db, MODE_CACHE, key, ksize);
}

static int cas(nmdb_t *db, int mode, const unsigned char *key, size_t ksize,
		const unsigned char *oldval, size_t ovsize,
		const unsigned char *newval, size_t nvsize)
{
	int e = 0;

	if (!request_ok(db))
		return -1;
	DONE(db->core->cas(db->h, mode, U(key), ksize, U(oldval), ovsize,
			U(newval), nvsize, &e));
}

API int nmdb_cas(nmdb_t *db, const unsigned char *key, size_t ksize,
		const unsigned char *oldval, size_t ovsize,
		const unsigned char *newval, size_t nvsize)
{
	return cas(db, MODE_PLAIN, key, ksize, oldval, ovsize, newval, nvsize);
}

API int nmdb_cache_cas(nmdb_t *db, const unsigned char *key, size_t ksize,
		const unsigned char *oldval, size_t ovsize,
		const unsigned char *newval, size_t nvsize)
{
	return cas(db, MODE_CACHE, key, ksize, oldval, ovsize, newval, nvsize);
}

static int incr(nmdb_t *db, int mode, const unsigned char *key, size_t ksize,
		int64_t increment, int64_t *newval)
{
	int e = 0;

	if (!request_ok(db))
		return -1;
	DONE(db->core->incr(db->h, mode, U(key), ksize, increment,
			newval, &e));
}

API int nmdb_incr(nmdb_t *db, const unsigned char *key, size_t ksize,
		int64_t increment, int64_t *newval)
{
	return incr(db, MODE_PLAIN, key, ksize, increment, newval);
}

API int nmdb_cache_incr(nmdb_t *db, const unsigned char *key, size_t ksize,
		int64_t increment, int64_t *newval)
{
	return incr(db, MODE_CACHE, key, ksize, increment, newval);
}

API ssize_t nmdb_firstkey(nmdb_t *db, unsigned char *key, size_t ksize)
{
	int e = 0;

	if (!request_ok(db))
		return -2;
	DONE(db->core->firstkey(db->h, key, ksize, &e));
}

API ssize_t nmdb_nextkey(nmdb_t *db, const unsigned char *key, size_t ksize,
		unsigned char *newkey, size_t nksize)
{
	int e = 0;

	if (!request_ok(db))
		return -2;
	DONE(db->core->nextkey(db->h, U(key), ksize, newkey, nksize, &e));
}

API int nmdb_stats(nmdb_t *db, unsigned char *buf, size_t bsize,
		unsigned int *nservers, unsigned int *nstats)
{
	int e = 0;

	if (!request_ok(db))
		return -2;
	DONE(db->core->stats(db->h, buf, bsize, nservers, nstats, &e));
}
