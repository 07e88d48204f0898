/*
 * leak.c - nmdb_free releases everything. Runs init / add server / one
 * request / free in a loop; after a warm-up of N rounds, N more rounds must
 * not grow the resident set size (VmRSS, the lowest seen near the end of
 * each half) by more than a small bound, nor the number of open file
 * descriptors at all.
 *
 * usage: leak PORT [N]     (a server on 127.0.0.1, TCP)
 * Build: cc leak.c -lnmdb
 */
#include <nmdb.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

/* Growth allowed between N and 2N rounds. A leaked handle costs at least
 * a connection's goroutine stack, socket and buffers (several KiB), so N
 * leaks are far above this bound for the default N of 2000. */
#define MAX_GROWTH_KB 6144

static long rss_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "VmRSS:", 6) == 0)
			kb = strtol(line + 6, NULL, 10);
	fclose(f);
	return kb;
}

static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* Runs n rounds and returns the smallest VmRSS seen in the last quarter of
 * them, so that the ups and downs of garbage collection do not count. */
static long rounds(int port, int n)
{
	unsigned char val[16];
	long min = -1, kb;
	int i;

	for (i = 0; i < n; i++) {
		if (i >= n - n / 4 && i % 10 == 0) {
			kb = rss_kb();
			if (min < 0 || (kb >= 0 && kb < min))
				min = kb;
		}
		nmdb_t *db = nmdb_init();

		QUIET_CHECK(db != NULL, "nmdb_init (round %d)", i);
		QUIET_CHECK(nmdb_add_tcp_server(db, "127.0.0.1", port) == 1,
				"add_tcp_server (round %d)", i);
		QUIET_CHECK(nmdb_get(db, U("leak-key"), 8, val,
					sizeof(val)) == 5,
				"get (round %d)", i);
		QUIET_CHECK(nmdb_free(db) == 1, "nmdb_free (round %d)", i);
	}
	return min;
}

int main(int argc, char **argv)
{
	long rss1, rss2;
	int fds1, fds2, port, n;
	nmdb_t *db;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2) {
		fprintf(stderr, "usage: %s PORT [N]\n", argv[0]);
		return 2;
	}
	port = atoi(argv[1]);
	n = argc > 2 ? atoi(argv[2]) : 2000;
	if (n < 40)
		n = 40;

	db = nmdb_init();
	CHECK(db != NULL, "nmdb_init");
	EXPECT(nmdb_add_tcp_server(db, "127.0.0.1", port), 1);
	EXPECT(nmdb_set_sync(db, U("leak-key"), 8, U("value"), 5), 1);
	EXPECT(nmdb_free(db), 1);

	rss1 = rounds(port, n);
	fds1 = open_fds();
	rss2 = rounds(port, n);
	fds2 = open_fds();
	printf("# lowest VmRSS near %d rounds: %ld kB, near %d: %ld kB; "
			"fds %d, %d\n", n, rss1, 2 * n, rss2, fds1, fds2);
	CHECK(rss1 > 0 && rss2 > 0, "VmRSS readable");
	CHECK(rss2 - rss1 <= MAX_GROWTH_KB,
			"%d more init/add/get/free rounds grow VmRSS by %ld kB "
			"(at most %d)", n, rss2 - rss1, MAX_GROWTH_KB);
	CHECK(fds2 <= fds1, "no file descriptor leaked (%d then %d)",
			fds1, fds2);
	printf("leak: all %d checks passed\n", checks_passed);
	return 0;
}
