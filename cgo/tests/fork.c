/*
 * fork.c - the library in programs that fork (libnmdb(3), FORK).
 *
 * usage: fork PORT AFTER [VPORT VPID]
 *   PORT:  a server on 127.0.0.1 (TCP)
 *   VPORT, VPID: a second server on 127.0.0.1, and its pid, that this
 *          program kills
 *   AFTER: "works" if a child whose parent used the library may make new
 *          handles (the shared library), "fails" if nmdb_init() must fail
 *          there at once with ENOTSUP (the static library)
 *
 * In order, in one process:
 *   1. before its first nmdb call, a pool of 4 children, each making 1000
 *      sets and gets with a handle of its own;
 *   2. still before its first call, a child that calls daemon(3) and then
 *      uses the library;
 *   2b. still before its first call, children that fork while another of
 *      their threads makes the process's first nmdb_init(): the grandchild
 *      works or (static library) gets ENOTSUP, never a half-started library;
 *   3. the parent uses the library;
 *   4. a pool of 4 children forked after that: a call on the parent's
 *      handle fails at once with ESTALE; a new handle works (1000 sets and
 *      gets, then 4 threads sharing the handle, and a grandchild doing the
 *      same) or nmdb_init() fails with ENOTSUP, as AFTER says;
 *   5. daemon(3) after use, with the same expectations;
 *   6. the parent's handle still works;
 *   7. (AFTER "works") generations of processes, each forking after using
 *      the library, until nmdb_init() fails with ENOTSUP (each generation
 *      costs the C library a link map) or 30 generations worked;
 *   8. with VPORT and VPID: a handle loses its server (killed), in a child
 *      after use if AFTER is "works", else in the parent: calls fail at
 *      once with a connection errno, and no signal kills the process.
 * Every child runs under alarm(): a child that hangs dies of SIGALRM and
 * fails the test instead of hanging it.
 *
 * Build: cc fork.c -lnmdb   (or -l:libnmdb.a -lpthread)
 */
#include <nmdb.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

/* Seconds a child may take before SIGALRM kills it. */
#define CHILD_LIMIT 60

static int port;
static int after_works;

/* ops makes n sets and gets of keys named after tag on db, checking each
 * value read back; it exits the process on a failure. */
static void ops(nmdb_t *db, const char *tag, int n)
{
	char key[64], val[64];
	unsigned char got[64];
	int i, kl, vl;
	ssize_t r;

	for (i = 0; i < n; i++) {
		kl = snprintf(key, sizeof(key), "fork-%s-%d", tag, i);
		vl = snprintf(val, sizeof(val), "value-%s-%d-%d", tag, i,
				(int) getpid());
		r = nmdb_set(db, U(key), kl, U(val), vl);
		QUIET_CHECK(r == 1, "[%s] set %s: %zd (errno %d)", tag, key,
				r, errno);
		r = nmdb_get(db, U(key), kl, got, sizeof(got));
		QUIET_CHECK(r == vl && memcmp(got, val, vl) == 0,
				"[%s] get %s: %zd (errno %d)", tag, key, r,
				errno);
	}
}

/* new_handle returns a handle on the server. */
static nmdb_t *new_handle(const char *tag)
{
	nmdb_t *db = nmdb_init();

	QUIET_CHECK(db != NULL, "[%s] nmdb_init: errno %d", tag, errno);
	QUIET_CHECK(nmdb_add_tcp_server(db, "127.0.0.1", port) == 1,
			"[%s] nmdb_add_tcp_server: errno %d", tag, errno);
	return db;
}

struct worker {
	pthread_t t;
	nmdb_t *db;
	char tag[32];
};

static void *worker_run(void *arg)
{
	struct worker *w = arg;

	ops(w->db, w->tag, 250);
	return NULL;
}

/* threads runs 4 threads that share db, 250 sets and gets each. */
static void threads(nmdb_t *db, const char *tag)
{
	struct worker w[4];
	int i;

	for (i = 0; i < 4; i++) {
		w[i].db = db;
		snprintf(w[i].tag, sizeof(w[i].tag), "%s-t%d", tag, i);
		QUIET_CHECK(pthread_create(&w[i].t, NULL, worker_run, &w[i]) == 0,
				"pthread_create");
	}
	for (i = 0; i < 4; i++)
		pthread_join(w[i].t, NULL);
}

/* spawn forks a child that runs f(arg) under alarm() and exits 0 when f
 * returns. */
static pid_t spawn(void (*f)(int), int arg)
{
	pid_t pid;

	fflush(stdout);
	pid = fork();
	QUIET_CHECK(pid >= 0, "fork: errno %d", errno);
	if (pid == 0) {
		alarm(CHILD_LIMIT);
		f(arg);
		fflush(stdout);
		_exit(0);
	}
	return pid;
}

/* reap waits for pid and reports whether it exited with status 0. */
static int reap(pid_t pid, const char *what)
{
	int st;

	QUIET_CHECK(waitpid(pid, &st, 0) == pid, "waitpid");
	if (WIFSIGNALED(st)) {
		printf("# %s: child killed by signal %d%s\n", what,
				WTERMSIG(st), WTERMSIG(st) == SIGALRM ?
				" (it hung)" : "");
		return 0;
	}
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static void pool_before_child(int i)
{
	char tag[32];
	nmdb_t *db;

	snprintf(tag, sizeof(tag), "before-%d", i);
	db = new_handle(tag);
	ops(db, tag, 1000);
	QUIET_CHECK(nmdb_free(db) == 1, "nmdb_free");
}

/* The parent's handle, which children inherit. */
static nmdb_t *parent_db;

/* stale checks that a call on the parent's handle fails at once. */
static void stale(nmdb_t *old, const char *tag)
{
	unsigned char b[8];
	unsigned int ns, nst;
	int64_t n;

	errno = 0;
	QUIET_CHECK(nmdb_set(old, U("k"), 1, U("v"), 1) == -1 && errno == ESTALE,
			"[%s] set on the parent's handle: errno %d", tag, errno);
	errno = 0;
	QUIET_CHECK(nmdb_get(old, U("k"), 1, b, sizeof(b)) == -2 &&
			errno == ESTALE, "[%s] get on the parent's handle", tag);
	errno = 0;
	QUIET_CHECK(nmdb_incr(old, U("k"), 1, 1, &n) == -1 && errno == ESTALE,
			"[%s] incr on the parent's handle", tag);
	errno = 0;
	QUIET_CHECK(nmdb_add_tcp_server(old, "127.0.0.1", port) == 0 &&
			errno == ESTALE, "[%s] add on the parent's handle", tag);
	errno = 0;
	QUIET_CHECK(nmdb_stats(old, b, sizeof(b), &ns, &nst) == -2 &&
			errno == ESTALE, "[%s] stats on the parent's handle", tag);
	QUIET_CHECK(nmdb_free(old) == 1, "[%s] nmdb_free of the parent's handle",
			tag);
}

/* use_after is what a child of a process that used the library does with
 * a new handle; n sets and gets. */
static void use_after(const char *tag, int n)
{
	nmdb_t *db;

	errno = 0;
	db = nmdb_init();
	if (!after_works) {
		QUIET_CHECK(db == NULL && errno == ENOTSUP,
				"[%s] nmdb_init after the parent used the "
				"library: %p, errno %d", tag, (void *) db, errno);
		/* Failures are remembered: the second try fails at once too. */
		errno = 0;
		db = nmdb_init();
		QUIET_CHECK(db == NULL && errno == ENOTSUP,
				"[%s] second nmdb_init", tag);
		return;
	}
	QUIET_CHECK(db != NULL, "[%s] nmdb_init: errno %d", tag, errno);
	QUIET_CHECK(nmdb_add_tcp_server(db, "127.0.0.1", port) == 1,
			"[%s] nmdb_add_tcp_server: errno %d", tag, errno);
	ops(db, tag, n);
	threads(db, tag);
	QUIET_CHECK(nmdb_free(db) == 1, "nmdb_free");
}

static void grandchild(int i)
{
	char tag[32];

	snprintf(tag, sizeof(tag), "grandchild-%d", i);
	use_after(tag, 100);
}

static void pool_after_child(int i)
{
	char tag[32];

	snprintf(tag, sizeof(tag), "after-%d", i);
	stale(parent_db, tag);
	use_after(tag, 1000);
	if (i == 0)
		QUIET_CHECK(reap(spawn(grandchild, i), "grandchild"),
				"[%s] grandchild failed", tag);
}

/* daemonized runs in a child: it calls daemon(3) and, in the daemon,
 * does the work, then writes "done" to fd. The parent reads it. */
static int daemon_fd;

static void daemonized(int after)
{
	int fd = daemon_fd;

	QUIET_CHECK(daemon(0, 0) == 0, "daemon: errno %d", errno);
	/* Standard output is /dev/null now: failures go to the pipe. */
	alarm(CHILD_LIMIT);
	if (after) {
		stale(parent_db, "daemon-after");
		use_after("daemon-after", 100);
	} else {
		nmdb_t *db = new_handle("daemon-before");

		ops(db, "daemon-before", 1000);
		threads(db, "daemon-before");
		nmdb_free(db);
	}
	if (write(fd, "done", 4) != 4)
		_exit(1);
	_exit(0);
}

/* run_daemon runs daemonized(after) and reports whether the daemon
 * finished its work. */
static int run_daemon(int after)
{
	int p[2], n = 0;
	char buf[16];
	struct pollfd pfd;
	ssize_t r;

	QUIET_CHECK(pipe(p) == 0, "pipe");
	daemon_fd = p[1];
	/* daemon(3)'s first child exits at once. */
	QUIET_CHECK(reap(spawn(daemonized, after), "daemon"), "daemon's parent");
	close(p[1]);
	pfd.fd = p[0];
	pfd.events = POLLIN;
	for (;;) {
		if (poll(&pfd, 1, CHILD_LIMIT * 1000) != 1)
			break;
		r = read(p[0], buf + n, sizeof(buf) - 1 - n);
		if (r <= 0)
			break;
		n += (int) r;
	}
	close(p[0]);
	buf[n] = 0;
	return strcmp(buf, "done") == 0;
}

/* chain runs generation gen: it uses the library, then forks the next
 * generation and exits with its status. The last generation exits 0 when
 * nmdb_init() fails with ENOTSUP or at generation 30. */
static void chain(int gen)
{
	nmdb_t *db;
	char tag[32];
	pid_t pid;
	int st;

	snprintf(tag, sizeof(tag), "chain-%d", gen);
	errno = 0;
	db = nmdb_init();
	if (db == NULL) {
		QUIET_CHECK(errno == ENOTSUP && gen > 1,
				"[%s] nmdb_init: errno %d", tag, errno);
		printf("# generation %d: nmdb_init fails with ENOTSUP\n", gen);
		return;
	}
	QUIET_CHECK(nmdb_add_tcp_server(db, "127.0.0.1", port) == 1,
			"[%s] add: errno %d", tag, errno);
	ops(db, tag, 10);
	if (gen == 30)
		return;
	fflush(stdout);
	pid = fork();
	QUIET_CHECK(pid >= 0, "fork");
	if (pid == 0) {
		alarm(CHILD_LIMIT);
		chain(gen + 1);
		fflush(stdout);
		_exit(0);
	}
	QUIET_CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) &&
			WEXITSTATUS(st) == 0, "[%s] next generation", tag);
	nmdb_free(db);
}

static void *first_init(void *arg)
{
	nmdb_t **db = arg;

	*db = new_handle("first-init");
	ops(*db, "first-init", 10);
	return NULL;
}

static void race_grandchild(int unused)
{
	nmdb_t *db;

	(void) unused;
	errno = 0;
	db = nmdb_init();
	if (!after_works && db == NULL && errno == ENOTSUP)
		return;
	QUIET_CHECK(db != NULL, "[race] nmdb_init: errno %d", errno);
	QUIET_CHECK(nmdb_add_tcp_server(db, "127.0.0.1", port) == 1,
			"[race] add: errno %d", errno);
	ops(db, "race", 10);
	nmdb_free(db);
}

/* init_race forks while another thread makes the first nmdb_init() of
 * this process, delay microseconds after starting that thread. */
static void init_race(int delay)
{
	pthread_t t;
	nmdb_t *db = NULL;
	int ok;

	QUIET_CHECK(pthread_create(&t, NULL, first_init, &db) == 0,
			"pthread_create");
	usleep(delay);
	ok = reap(spawn(race_grandchild, 0), "init race");
	pthread_join(t, NULL);
	QUIET_CHECK(ok, "[race] the child forked %d us after the first "
			"nmdb_init began", delay);
	nmdb_free(db);
}

/* The server killed by lose_server, and its port. */
static int victim_port;
static pid_t victim_pid;

/* lose_server makes a handle on the victim, kills the victim and checks
 * that calls then fail with a connection error (not a signal, not a
 * hang). */
static void lose_server(int unused)
{
	nmdb_t *db;
	int i, r, e;

	(void) unused;
	db = nmdb_init();
	QUIET_CHECK(db != NULL, "[lose] nmdb_init: errno %d", errno);
	QUIET_CHECK(nmdb_add_tcp_server(db, "127.0.0.1", victim_port) == 1,
			"[lose] add: errno %d", errno);
	QUIET_CHECK(nmdb_cache_set(db, U("k"), 1, U("v"), 1) == 1,
			"[lose] set before the kill");
	QUIET_CHECK(kill(victim_pid, SIGKILL) == 0, "[lose] kill: errno %d", errno);
	/* The killed server's socket closes once the kernel reaps it. */
	for (i = 0; i < 100 && kill(victim_pid, 0) == 0; i++)
		usleep(20000);
	for (i = 0; i < 4; i++) {
		errno = 0;
		r = nmdb_cache_set(db, U("k"), 1, U("v"), 1);
		e = errno;
		/* After the first failure the server is marked down:
		 * EHOSTDOWN at once (libnmdb(3), SERVERS DOWN). */
		QUIET_CHECK(r == -1 && (e == ECONNREFUSED || e == ECONNRESET ||
				e == EPIPE || e == EHOSTDOWN), "[lose] set %d after the kill: %d, "
				"errno %d (%s)", i, r, e, strerror(e));
	}
	QUIET_CHECK(nmdb_free(db) == 1, "[lose] nmdb_free");
}

int main(int argc, char **argv)
{
	pid_t pids[4];
	int i, ok;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if ((argc != 3 && argc != 5) ||
			(strcmp(argv[2], "works") && strcmp(argv[2], "fails"))) {
		fprintf(stderr, "usage: %s PORT works|fails [VPORT VPID]\n",
				argv[0]);
		return 2;
	}
	port = atoi(argv[1]);
	after_works = strcmp(argv[2], "works") == 0;
	alarm(5 * CHILD_LIMIT);

	/* 1. A pre-fork pool, before the first nmdb call. */
	for (i = 0; i < 4; i++)
		pids[i] = spawn(pool_before_child, i);
	for (ok = 1, i = 0; i < 4; i++)
		ok &= reap(pids[i], "pool before init");
	CHECK(ok, "4 children forked before the first call: 1000 sets and gets each");

	/* 2. daemon(3), then use. */
	CHECK(run_daemon(0), "daemon(3) before the first call, then use");

	/* 2b. fork() during the first nmdb_init() of another thread. */
	for (ok = 1, i = 0; i < 12; i++)
		ok &= reap(spawn(init_race, i * 250), "init race");
	CHECK(ok, "fork during another thread's first nmdb_init (12 delays): "
			"the child %s", after_works ? "works" :
			"works or gets ENOTSUP");

	/* 3. The parent uses the library. */
	parent_db = new_handle("parent");
	ops(parent_db, "parent", 100);
	CHECK(1, "the parent uses the library after its children did");

	/* 4. Children forked after use. */
	for (i = 0; i < 4; i++)
		pids[i] = spawn(pool_after_child, i);
	for (ok = 1, i = 0; i < 4; i++)
		ok &= reap(pids[i], "pool after use");
	CHECK(ok, "4 children forked after use: the parent's handle fails with "
			"ESTALE; a new handle %s",
			after_works ? "works (1000 sets and gets, 4 threads, a grandchild)" :
			"fails at once with ENOTSUP");

	/* 5. daemon(3) after use. */
	CHECK(run_daemon(1), "daemon(3) after use: %s",
			after_works ? "a new handle works" : "nmdb_init fails with ENOTSUP");

	/* 6. The parent is unaffected. */
	ops(parent_db, "parent-end", 100);
	CHECK(nmdb_free(parent_db) == 1, "the parent's handle still works");

	/* 7. Generations forking after use. */
	if (after_works)
		CHECK(reap(spawn(chain, 1), "chain"), "generations forking after "
				"use work until nmdb_init fails with ENOTSUP");

	/* 8. A server lost. */
	if (argc == 5) {
		victim_port = atoi(argv[3]);
		victim_pid = (pid_t) atoi(argv[4]);
		if (after_works) {
			CHECK(reap(spawn(lose_server, 0), "lose server"),
					"a child after use loses its server: "
					"calls fail with a connection errno");
		} else {
			lose_server(0);
			CHECK(1, "the parent loses its server: calls fail "
					"with a connection errno");
		}
	}
	printf("fork: all %d checks passed\n", checks_passed);
	return 0;
}
