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
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum {
	VERSION = 1,
	OP_GET = 0x101,
	OP_SET = 0x102,
	FLAG_CACHE_ONLY = 1,
	CODE_CACHE_HIT = 0x801,
	CODE_CACHE_MISS = 0x802,
	CODE_OK = 0x803,
	PREFIX = 4,
	MAX_MESSAGE = 64 * 1024,
	HIST_US = 100000, /* latencies up to 100 ms, 1 us apart */
};

static void put32(unsigned char *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	perror(what);
	exit(1);
}

/* format_key writes key number i: "key:" and digits filling len bytes
 * (digits only for keys shorter than 5 bytes). */
static void format_key(unsigned char *dst, int len, uint64_t i)
{
	int start = 0;
	if (len > 4) {
		memcpy(dst, "key:", 4);
		start = 4;
	}
	for (int j = len - 1; j >= start; j--) {
		dst[j] = '0' + i % 10;
		i /= 10;
	}
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

static unsigned char rbuf[PREFIX + MAX_MESSAGE];

/* roundtrip sends the frame req and reads until the reply to id is in;
 * it returns the reply code. */
static uint32_t roundtrip(int fd, const unsigned char *req, size_t n, uint32_t id)
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
		ssize_t r = recv(fd, rbuf + have, sizeof(rbuf) - have, 0);
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
		if (have < PREFIX)
			continue;
		uint32_t len = get32(rbuf);
		if (len < PREFIX + 8 || len > sizeof(rbuf)) {
			fprintf(stderr, "rawloop: bad frame length %u\n", len);
			exit(1);
		}
		if (have < len)
			continue;
		if ((get32(rbuf + PREFIX) & 0x0FFFFFFF) != id) {
			fprintf(stderr, "rawloop: reply to another request\n");
			exit(1);
		}
		return get32(rbuf + PREFIX + 4);
	}
}

static double percentile(const uint32_t *hist, uint64_t total, double q)
{
	uint64_t want = (uint64_t)(q * total), seen = 0;
	for (int i = 0; i < HIST_US; i++) {
		seen += hist[i];
		if (seen > want)
			return i + 0.5;
	}
	return HIST_US;
}

int main(int argc, char **argv)
{
	const char *addr = "127.0.0.1:26010", *op = "get", *row = "", *role = "peer",
		   *name = "raw C loop", *out = NULL;
	double secs = 5, warmup = 1;
	long keys = 1000, keysize = 16, valsize = 64;
	int c;
	while ((c = getopt(argc, argv, "a:o:t:w:k:K:v:r:R:n:f:")) != -1) {
		switch (c) {
		case 'a': addr = optarg; break;
		case 'o': op = optarg; break;
		case 't': secs = atof(optarg); break;
		case 'w': warmup = atof(optarg); break;
		case 'k': keys = atol(optarg); break;
		case 'K': keysize = atol(optarg); break;
		case 'v': valsize = atol(optarg); break;
		case 'r': row = optarg; break;
		case 'R': role = optarg; break;
		case 'n': name = optarg; break;
		case 'f': out = optarg; break;
		default:
			fprintf(stderr, "usage: rawloop -a HOST:PORT -o get|set -t SECS -w WARMUP "
					"-k KEYS -K KEYSIZE -v VALSIZE -r ROW -R ROLE -n NAME -f FILE\n");
			return 2;
		}
	}
	int get = strcmp(op, "get") == 0;
	if ((!get && strcmp(op, "set") != 0) || keys < 1 || keysize < 1 || keysize > 250 ||
	    valsize < 0 || valsize > 60000 || secs <= 0) {
		fprintf(stderr, "rawloop: bad arguments\n");
		return 2;
	}
	int fd = dial(addr);
	static uint32_t hist[HIST_US];
	unsigned char *req = malloc(PREFIX + 16 + keysize + valsize);
	if (!req)
		die("malloc");
	/* The parts of the request that do not change. */
	size_t n = PREFIX + 8 + 4 + (get ? 0 : 4) + keysize + (get ? 0 : valsize);
	put32(req, n);
	put32(req + PREFIX + 4, (uint32_t)(get ? OP_GET : OP_SET) << 16 | FLAG_CACHE_ONLY);
	put32(req + PREFIX + 8, keysize);
	unsigned char *key = req + PREFIX + 12;
	if (!get) {
		put32(req + PREFIX + 12, valsize);
		key += 4;
		memset(key + keysize, 'v', valsize);
	}
	uint64_t rng = 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid(), ops = 0, hits = 0, misses = 0, errs = 0;
	uint32_t id = 0;
	double start = now(), measure = start + warmup, end = measure + secs;
	for (;;) {
		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		format_key(key, keysize, rng % (uint64_t)keys);
		id = (id + 1) & 0x0FFFFFFF;
		if (id == 0)
			id = 1;
		put32(req + PREFIX, (uint32_t)VERSION << 28 | id);
		double t0 = now();
		if (t0 >= end)
			break;
		uint32_t code = roundtrip(fd, req, n, id);
		if (t0 < measure)
			continue;
		double us = (now() - t0) * 1e6;
		hist[us < HIST_US ? (int)us : HIST_US - 1]++;
		ops++;
		if (code == CODE_CACHE_HIT)
			hits++;
		else if (code == CODE_CACHE_MISS)
			misses++;
		else if (code != CODE_OK)
			errs++;
	}
	close(fd);
	double p50 = percentile(hist, ops, 0.5), p99 = percentile(hist, ops, 0.99),
	       p999 = percentile(hist, ops, 0.999);
	char line[1024];
	snprintf(line, sizeof(line),
		 "{\"row\":\"%s\",\"name\":\"%s\",\"role\":\"%s\",\"metric\":\"ops\",\"target\":\"nmdb\","
		 "\"transport\":\"tcp\",\"client\":\"raw-c\",\"mode\":\"cache\",\"procs\":1,\"conns\":1,"
		 "\"depth\":1,\"gets\":%d,\"keysize\":%ld,\"valsize\":%ld,\"keys\":%ld,\"ops\":%llu,"
		 "\"hits\":%llu,\"misses\":%llu,\"errors\":%llu,\"lost\":0,\"secs\":%.3f,"
		 "\"ops_per_sec\":%.1f,\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f}\n",
		 row, name, role, get, keysize, valsize, keys, (unsigned long long)ops,
		 (unsigned long long)hits, (unsigned long long)misses, (unsigned long long)errs, secs,
		 ops / secs, p50, p99, p999);
	fputs(line, stdout);
	if (out) {
		FILE *f = fopen(out, "a");
		if (!f || fputs(line, f) < 0 || fclose(f) != 0)
			die(out);
	}
	return errs ? 1 : 0;
}
