# Shell functions of bench.sh and bench-smoke.sh (sourced, not run).

# free_port prints a port of 127.0.0.1 that no TCP or UDP socket uses now,
# below the kernel's range for outgoing connections. It is free when
# asked; use it promptly.
free_port() {
	local p i
	for ((i = 0; i < 100; i++)); do
		p=$((20000 + RANDOM % 12000))
		if [ -z "$(ss -Htuan "( sport = :$p )")" ]; then
			echo "$p"
			return 0
		fi
	done
	echo "no port free for both TCP and UDP in 100 tries" >&2
	return 1
}

# wait_tcp SECONDS HOST:PORT...: wait until every address accepts TCP
# connections; fail after SECONDS for one address.
wait_tcp() {
	local limit=$1 a i
	shift
	for a in "$@"; do
		for ((i = 0; ; i++)); do
			if (exec 3<>"/dev/tcp/${a%:*}/${a##*:}") 2>/dev/null; then
				break
			fi
			if ((i >= limit * 20)); then
				echo "$a is not accepting connections after ${limit}s" >&2
				return 1
			fi
			sleep 0.05
		done
	done
}

# stop_pids PID...: ask each process to stop (SIGTERM), give it 10 s, then
# kill it, and reap it.
stop_pids() {
	local p i
	for p in "$@"; do kill "$p" 2>/dev/null || true; done
	for p in "$@"; do
		for ((i = 0; i < 100; i++)); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
}
