/*
 * runner: the start cost of short programs, measured side by side. Each
 * variant is a command line run as a fresh process (posix_spawn, then
 * wait4); the variants take turns, one run each, ROUNDS times, the order
 * rotating from round to round, so that a machine whose load changes
 * weighs on all of them alike. Per variant it prints the median wall time
 * of a run, the median processor time (user and system, all threads), and
 * the ratio of its wall time to the first variant's: the median, first and
 * third quartile of the ratios of the runs of one round.
 *
 *   runner ROUNDS 'NAME=[VAR=VALUE ...] PROGRAM [ARG ...]' ...
 *
 * A run that does not exit with status 0 stops the measurement.
 */
#define _GNU_SOURCE
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

enum { MAX_VARIANTS = 16, MAX_ARGS = 32 };

struct variant {
	char *name;
	char *argv[MAX_ARGS + 1];
	char **envp;
	double *wall, *cpu, *ratio; /* microseconds, per round */
};

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* quantile returns the q quantile of the n values at v (sorted in place). */
static double quantile(double *v, int n, double q)
{
	qsort(v, n, sizeof(*v), cmp);
	return v[(int)(q * (n - 1) + 0.5)];
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n, size);
	if (p == NULL) {
		perror("runner");
		exit(1);
	}
	return p;
}

/* parse fills v from "NAME=[VAR=VALUE ...] PROGRAM [ARG ...]". */
static void parse(struct variant *v, const char *spec)
{
	char *s = strdup(spec), *eq = s ? strchr(s, '=') : NULL, *tok, *save;
	int nenv = 0, ne = 0, na = 0;

	if (eq == NULL || eq == s) {
		fprintf(stderr, "runner: bad variant %s (want NAME=COMMAND)\n", spec);
		exit(2);
	}
	*eq = '\0';
	v->name = s;
	while (environ[nenv] != NULL)
		nenv++;
	v->envp = xcalloc(nenv + MAX_ARGS + 1, sizeof(char *));
	for (tok = strtok_r(eq + 1, " ", &save); tok != NULL; tok = strtok_r(NULL, " ", &save)) {
		if (na == 0 && strchr(tok, '=') != NULL && ne < MAX_ARGS)
			v->envp[ne++] = tok;
		else if (na < MAX_ARGS)
			v->argv[na++] = tok;
	}
	if (na == 0) {
		fprintf(stderr, "runner: variant %s has no program\n", v->name);
		exit(2);
	}
	for (int i = 0; i < nenv; i++)
		v->envp[ne++] = environ[i];
}

int main(int argc, char **argv)
{
	struct variant v[MAX_VARIANTS];
	int rounds = argc > 1 ? atoi(argv[1]) : 0, nv = argc - 2;
	double *tmp;

	if (rounds < 1 || nv < 1 || nv > MAX_VARIANTS) {
		fprintf(stderr, "usage: runner ROUNDS 'NAME=[VAR=VALUE ...] PROGRAM [ARG ...]' ...\n");
		return 2;
	}
	memset(v, 0, sizeof(v));
	for (int i = 0; i < nv; i++) {
		parse(&v[i], argv[2 + i]);
		v[i].wall = xcalloc(rounds, sizeof(double));
		v[i].cpu = xcalloc(rounds, sizeof(double));
		v[i].ratio = xcalloc(rounds, sizeof(double));
	}
	for (int r = 0; r < rounds; r++) {
		for (int j = 0; j < nv; j++) {
			struct variant *x = &v[(j + r) % nv];
			struct rusage ru;
			pid_t pid;
			int st;
			double t0 = now_us();

			if (posix_spawn(&pid, x->argv[0], NULL, NULL, x->argv, x->envp) != 0) {
				perror(x->argv[0]);
				return 1;
			}
			if (wait4(pid, &st, 0, &ru) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
				fprintf(stderr, "runner: %s failed\n", x->name);
				return 1;
			}
			x->wall[r] = now_us() - t0;
			x->cpu[r] = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
				    ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
		}
		for (int i = 0; i < nv; i++)
			v[i].ratio[r] = v[i].wall[r] / v[0].wall[r];
	}
	tmp = xcalloc(rounds, sizeof(double));
	printf("%-12s %10s %10s   %s\n", "variant", "wall (us)", "cpu (us)", "wall / first: median [quartiles]");
	for (int i = 0; i < nv; i++) {
		double w, c, q1, q2, q3;

		memcpy(tmp, v[i].wall, rounds * sizeof(double));
		w = quantile(tmp, rounds, 0.5);
		memcpy(tmp, v[i].cpu, rounds * sizeof(double));
		c = quantile(tmp, rounds, 0.5);
		memcpy(tmp, v[i].ratio, rounds * sizeof(double));
		q1 = quantile(tmp, rounds, 0.25);
		q2 = quantile(tmp, rounds, 0.5);
		q3 = quantile(tmp, rounds, 0.75);
		printf("%-12s %10.0f %10.0f   %.2f [%.2f-%.2f]\n", v[i].name, w, c, q2, q1, q3);
	}
	return 0;
}
