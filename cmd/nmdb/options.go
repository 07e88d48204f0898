package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nmdb-go/nmdb/nmdb"
)

// Defaults of the command line (SPEC section 6).
const (
	defaultBackend   = "pebble"
	defaultDBPath    = "database"
	defaultTIPCLower = 10
	defaultPort      = 26010
	defaultCacheK    = 128
	defaultCacheMiB  = 64      // nmdb.DefaultCacheBytes in MiB
	maxCacheMiB      = 1 << 22 // -m: 4 TiB
	defaultLogFile   = "-"
	offValue         = "off"
	maxCacheK        = 1 << 20 // -c: about a thousand million objects
	maxConns         = 1 << 20 // --max-conns: beyond any descriptor limit
	maxTimeout       = 24 * time.Hour
	maxGCPercent     = 10000
)

// options is the parsed command line.
type options struct {
	backend string
	dbPath  string

	tipc         bool // serve TIPC
	tipcExplicit bool // -l or -L given: failing to serve TIPC is fatal
	tipcLower    uint32
	tipcUpper    uint32

	tcp     bool
	tcpPort int
	tcpAddr string

	udp     bool
	udpPort int
	udpAddr string

	sctp         bool
	sctpExplicit bool // -s or -S given
	sctpPort     int
	sctpAddr     string

	cacheK     int
	cacheMiB   int // -m
	gcPercent  int // -g; 0: not given
	logFile    string
	pidFile    string
	foreground bool
	passive    bool
	join       bool // --join: join a port that has an active as a mirror
	readOnly   bool
	help       bool
	version    bool   // -V: print the version and exit
	user       string // --user: the user to run as once the sockets are bound
	metrics    string // -M: address of the Prometheus endpoint; "": none

	maxConns     int           // --max-conns; 0: the server's default
	idleTimeout  time.Duration // --idle-timeout; 0: the default, <0: never
	frameTimeout time.Duration // --frame-timeout; 0: the default, <0: never
}

// An option is one row of the command line table.
type option struct {
	short byte   // the letter after "-"; 0: no short form
	long  string // the name after "--"; "": no long form
	value bool   // takes a value
	// set applies the option; v is "" for a switch. An error is reported
	// after the option as the user wrote it ("-c: ...", "--name: ...").
	set func(p *parsed, v string) error
}

// parsed is the command line being parsed: the options, and what options
// that depend on one another leave for the end.
type parsed struct {
	o *options

	upper      uint32 // -L
	upperGiven bool   // -L with a number
	upperOff   bool   // -L off
	udpOff     bool   // -u off: -U does not turn UDP on
}

// optionTable is the command line: classic nmdb's getopt string
// "b:d:l:L:t:T:u:U:s:S:c:o:i:fprh", -g, --help, -V (--version), --user
// and -M (--metrics).
//
// To add an option, add one row: its letter (or 0), its long name (or ""),
// whether it takes a value, and a set function that stores the value in
// options (add a field there) and returns an error without the option's
// name, which the parser puts in front. Then describe it in printUsage and
// in man/nmdb.1.
func optionTable() []option {
	return []option{
		{'b', "", true, func(p *parsed, v string) error { p.o.backend = v; return nil }},
		{'d', "", true, func(p *parsed, v string) error {
			if v == "" {
				return errors.New("empty database path")
			}
			p.o.dbPath = v
			return nil
		}},
		{'l', "", true, func(p *parsed, v string) (err error) {
			p.o.tipcExplicit = true
			if isOff(v) {
				p.o.tipc = false
				return nil
			}
			p.o.tipc = true
			p.o.tipcLower, err = parseInstance(v)
			return err
		}},
		{'L', "", true, func(p *parsed, v string) (err error) {
			p.o.tipcExplicit = true
			if isOff(v) {
				p.upperOff = true
				return nil
			}
			p.upper, err = parseInstance(v)
			p.upperGiven = true
			return err
		}},
		{'t', "", true, func(p *parsed, v string) (err error) {
			p.o.tcp, p.o.tcpPort, err = parsePort(v)
			return err
		}},
		{'T', "", true, func(p *parsed, v string) error { p.o.tcpAddr = listenHost(v); return nil }},
		{'u', "", true, func(p *parsed, v string) (err error) {
			p.o.udp, p.o.udpPort, err = parsePort(v)
			p.udpOff = !p.o.udp
			return err
		}},
		{'U', "", true, func(p *parsed, v string) error {
			p.o.udpAddr = listenHost(v)
			p.o.udp = !p.udpOff
			return nil
		}},
		{'s', "", true, func(p *parsed, v string) (err error) {
			p.o.sctpExplicit = true
			p.o.sctp, p.o.sctpPort, err = parsePort(v)
			return err
		}},
		{'S', "", true, func(p *parsed, v string) error {
			p.o.sctpExplicit = true
			p.o.sctpAddr = listenHost(v)
			return nil
		}},
		{'c', "", true, func(p *parsed, v string) (err error) {
			p.o.cacheK, err = parseRange(v, 1, maxCacheK)
			if err != nil {
				return fmt.Errorf("cache size %q is not a number of thousands of objects from 1 to %d", v, maxCacheK)
			}
			return nil
		}},
		{'m', "memory", true, func(p *parsed, v string) (err error) {
			p.o.cacheMiB, err = parseRange(v, 1, maxCacheMiB)
			if err != nil {
				return fmt.Errorf("cache memory %q is not a number of MiB from 1 to %d", v, maxCacheMiB)
			}
			return nil
		}},
		{'g', "", true, func(p *parsed, v string) (err error) {
			p.o.gcPercent, err = parseRange(v, 1, maxGCPercent)
			if err != nil {
				return fmt.Errorf("garbage collector target %q is not a percentage from 1 to %d", v, maxGCPercent)
			}
			return nil
		}},
		{'o', "", true, func(p *parsed, v string) error {
			if v == "" {
				return errors.New("empty log file name")
			}
			p.o.logFile = v
			return nil
		}},
		{'i', "", true, func(p *parsed, v string) error {
			if v == "" {
				return errors.New("empty pid file name")
			}
			p.o.pidFile = v
			return nil
		}},
		{'f', "", false, func(p *parsed, _ string) error { p.o.foreground = true; return nil }},
		{'p', "", false, func(p *parsed, _ string) error { p.o.passive = true; return nil }},
		{'r', "", false, func(p *parsed, _ string) error { p.o.readOnly = true; return nil }},
		{'h', "help", false, func(p *parsed, _ string) error { p.o.help = true; return nil }},
		{'V', "version", false, func(p *parsed, _ string) error { p.o.version = true; return nil }},
		{0, "user", true, func(p *parsed, v string) error {
			if v == "" {
				return errors.New("empty user name")
			}
			p.o.user = v
			return nil
		}},
		{'M', "metrics", true, func(p *parsed, v string) error {
			if _, _, err := net.SplitHostPort(v); err != nil {
				return fmt.Errorf("metrics address %q is not HOST:PORT: %w", v, err)
			}
			p.o.metrics = v
			return nil
		}},
		{0, "max-conns", true, func(p *parsed, v string) (err error) {
			p.o.maxConns, err = parseRange(v, 1, maxConns)
			if err != nil {
				return fmt.Errorf("connection limit %q is not a number from 1 to %d", v, maxConns)
			}
			return nil
		}},
		{0, "idle-timeout", true, func(p *parsed, v string) (err error) {
			p.o.idleTimeout, err = parseTimeout(v)
			return err
		}},
		{0, "frame-timeout", true, func(p *parsed, v string) (err error) {
			p.o.frameTimeout, err = parseTimeout(v)
			return err
		}},
		{0, "join", false, func(p *parsed, _ string) error { p.o.join = true; return nil }},
	}
}

// parseArgs parses the command line the way classic nmdb's getopt did:
// single-dash options, values either attached (-t26010) or as the next
// argument (-t 26010), options without values grouped (-fr), "--" ends the
// options. Long options take their value as --name value or --name=value.
// Operands are an error.
func parseArgs(args []string, backends []string) (*options, error) {
	return parseTable(optionTable(), args, backends)
}

// parseTable is parseArgs with the options of table.
func parseTable(table []option, args []string, backends []string) (*options, error) {
	p := &parsed{o: &options{
		backend:   defaultBackend,
		dbPath:    defaultDBPath,
		tipc:      true,
		tipcLower: defaultTIPCLower,
		tcp:       true,
		tcpPort:   defaultPort,
		udpPort:   defaultPort,
		sctp:      true,
		sctpPort:  defaultPort,
		cacheK:    defaultCacheK,
		cacheMiB:  defaultCacheMiB,
		logFile:   defaultLogFile,
	}}
	for i := 0; i < len(args); i++ {
		a := args[i]
		var err error
		switch {
		case a == "--":
			if i+1 < len(args) {
				return nil, fmt.Errorf("unexpected argument %q", args[i+1])
			}
			i = len(args)
		case strings.HasPrefix(a, "--"):
			i, err = p.long(table, args, i)
		case len(a) >= 2 && a[0] == '-':
			i, err = p.short(table, args, i)
		default:
			err = fmt.Errorf("unexpected argument %q", a)
		}
		if err != nil {
			return nil, err
		}
	}
	return p.finish(backends)
}

// short parses args[i], a group of single-letter options, and returns the
// index of the last argument it used.
func (p *parsed) short(table []option, args []string, i int) (int, error) {
	a := args[i]
	for j := 1; j < len(a); j++ {
		c := a[j]
		k := slices.IndexFunc(table, func(opt option) bool { return opt.short == c && c != 0 })
		if k < 0 {
			return i, fmt.Errorf("unknown option -%c", c)
		}
		opt, v := table[k], ""
		if opt.value {
			// The rest of the group is the value, else the next argument.
			v = a[j+1:]
			if v == "" {
				if i+1 >= len(args) {
					return i, fmt.Errorf("option -%c needs a value", c)
				}
				i++
				v = args[i]
			}
			j = len(a)
		}
		if err := opt.set(p, v); err != nil {
			return i, fmt.Errorf("-%c: %w", c, err)
		}
	}
	return i, nil
}

// long parses args[i], a long option, and returns the index of the last
// argument it used.
func (p *parsed) long(table []option, args []string, i int) (int, error) {
	name, v, attached := strings.Cut(args[i][2:], "=")
	k := slices.IndexFunc(table, func(opt option) bool { return opt.long == name && name != "" })
	if k < 0 {
		return i, fmt.Errorf("unknown option --%s", name)
	}
	opt := table[k]
	switch {
	case !opt.value && attached:
		return i, fmt.Errorf("option --%s takes no value", name)
	case opt.value && !attached:
		if i+1 >= len(args) {
			return i, fmt.Errorf("option --%s needs a value", name)
		}
		i++
		v = args[i]
	}
	if err := opt.set(p, v); err != nil {
		return i, fmt.Errorf("--%s: %w", name, err)
	}
	return i, nil
}

// finish applies what depends on several options and checks the backend.
func (p *parsed) finish(backends []string) (*options, error) {
	o := p.o
	if o.help || o.version {
		return o, nil
	}
	if p.upperOff {
		o.tipc = false // -L off turns TIPC off like -l off
	}
	if o.tipc {
		o.tipcUpper = o.tipcLower
		if p.upperGiven {
			if p.upper < o.tipcLower {
				return nil, fmt.Errorf("-L: upper TIPC instance %d is below the lower one %d", p.upper, o.tipcLower)
			}
			o.tipcUpper = p.upper
		}
	}
	if err := checkBackend(o.backend, backends); err != nil {
		return nil, err
	}
	return o, nil
}

// parseRange parses a decimal number from lo to hi.
func parseRange(v string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, err
	}
	if n < lo || n > hi {
		return 0, fmt.Errorf("%d is not from %d to %d", n, lo, hi)
	}
	return n, nil
}

// parseTimeout parses a time limit: a duration such as 90s or 5m, a
// number of seconds, or "off" for none (returned as -1).
func parseTimeout(v string) (time.Duration, error) {
	if isOff(v) {
		return -1, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		var n int
		if n, err = strconv.Atoi(v); err == nil {
			d = time.Duration(n) * time.Second
		}
		if n > int(maxTimeout/time.Second) {
			d = maxTimeout + 1
		}
	}
	if err != nil || d <= 0 || d > maxTimeout {
		return 0, fmt.Errorf("time limit %q is neither a duration from 1ms to %v (such as 30s or 5m) nor %q", v, maxTimeout, offValue)
	}
	return d, nil
}

// checkBackend returns a clear error when name is not one of backends.
func checkBackend(name string, backends []string) error {
	if slices.Contains(backends, name) {
		return nil
	}
	have := strings.Join(backends, ", ")
	if isClassicBackend(name) {
		return fmt.Errorf("-b: backend %q of classic nmdb is not in this build; available backends: %s", name, have)
	}
	return fmt.Errorf("-b: unknown backend %q; available backends: %s", name, have)
}

// isClassicBackend reports whether name is a backend of classic nmdb.
func isClassicBackend(name string) bool {
	switch name {
	case "qdbm", "bdb", "tdb", "tc", "leveldb":
		return true
	}
	return false
}

// isOff reports whether v is the value that turns a transport off.
func isOff(v string) bool { return strings.EqualFold(v, offValue) }

// parsePort parses a port number or "off".
func parsePort(v string) (on bool, port int, err error) {
	if isOff(v) {
		return false, 0, nil
	}
	p, err := strconv.Atoi(v)
	if err != nil || p < 0 || p > math.MaxUint16 {
		return false, 0, fmt.Errorf("%q is neither a port number (0-65535) nor %q", v, offValue)
	}
	return true, p, nil
}

// parseInstance parses a TIPC service instance.
func parseInstance(v string) (uint32, error) {
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%q is neither a TIPC instance number (0-%d) nor %q", v, uint32(math.MaxUint32), offValue)
	}
	return uint32(n), nil
}

// listenHost maps the spellings of "every address" to the empty host.
func listenHost(v string) string {
	switch v {
	case "all", "*":
		return ""
	}
	return v
}

// printUsage writes the -h text.
func printUsage(w io.Writer, backends []string) {
	fmt.Fprintf(w, `Usage: nmdb [-b backend] [-d dbpath] [-l lower] [-L upper] [-t tcpport]
            [-T tcpaddr] [-u udpport] [-U udpaddr] [-s sctpport] [-S sctpaddr]
            [-c nobj] [-m MiB] [-g percent] [-o logfile] [-i pidfile] [-f] [-p] [-r]
            [-h] [-V] [--user name] [-M addr] [--max-conns n]
            [--idle-timeout t] [--frame-timeout t] [--join]

nmdb serves a cache with a database behind it over TIPC, TCP, UDP and SCTP.

  -b backend  database backend: %[1]s (default %[2]s)
  -d dbpath   database path, created if missing (default %[3]q)
  -l lower    TIPC lower service instance, or "off" for no TIPC (default %[4]d)
  -L upper    TIPC upper service instance (default: the lower one)
  -t port     TCP port, or "off" for no TCP (default %[5]d)
  -T addr     TCP address to listen on (default: all addresses)
  -u port     UDP port, or "off" (default: UDP off; with -u or -U, port %[5]d)
  -U addr     UDP address to listen on; turns UDP on (default: all addresses)
  -s port     SCTP port, or "off" for no SCTP (default %[5]d)
  -S addr     SCTP address to listen on (default: all addresses)
  -c nobj     cache size in thousands of objects, x 1024 (default %[6]d)
  -m MiB      cache size in MiB: keys, values and a per-object overhead;
              the process stays within about 1.2 times this plus a fixed
              amount (default %[8]d; also --memory MiB)
  -g percent  memory the garbage collector lets the heap grow by over the
              live data before it runs, in percent (like GOGC): lower uses
              less memory and more CPU while sets evict cached objects
              (default %[7]d, or $GOGC when set)
  -o logfile  log file, "-" for standard output (default "-")
  -i pidfile  write the process id here once listening; removed on exit
  -f          stay in the foreground (default: go to the background)
  -p          passive mode: act on every request but never reply; over
              TIPC, a mirror that catches up with the port's active server
              and may take its place
  --join      if the TIPC port already has an active server, join it as a
              mirror (as with -p); otherwise start active
  -r          read-only mode: set, del, cas and incr are refused
  -h          show this help
  -V          print the version and exit (also --version)
  --user name drop root: run as this user (and its groups) once the
              sockets are bound; the database, pid file and log directories
              must be writable by it
  -M addr     serve the counters to Prometheus on http://addr/metrics
              (also --metrics; default: off)
  --max-conns n
              TCP connections served at once; a client over the limit gets
              ERR 0x105 and is closed (default %[9]d)
  --idle-timeout t
              close a TCP connection idle between requests for t, a
              duration (30s, 5m) or seconds, or "off" (default %[10]v)
  --frame-timeout t
              close a TCP connection that does not finish a request it
              began within t, as above (default %[11]v)

UDP is off unless -u or -U is given: a small request from a forged source
address can pull a reply of up to 64 KiB onto a victim (reflection attack).

When the kernel lacks TIPC or SCTP, nmdb logs a warning and serves the other
transports, unless -l/-L (TIPC) or -s/-S (SCTP) asked for it: then it exits
with an error. For TIPC, load the kernel module: modprobe tipc.

Over TIPC, the servers of one port elect their active server: when it goes
away, the caught-up mirror with the lowest TIPC socket address takes its
place. A server started without -p or --join refuses to start on a port that
already has an active server.

Signals: SIGTERM, SIGINT stop after every queued database write is done;
SIGHUP reopens the log file; SIGUSR1 switches to read-only mode; SIGUSR2
toggles passive mode.
`, strings.Join(backends, ", "), defaultBackend, defaultDBPath, defaultTIPCLower,
		defaultPort, defaultCacheK, defaultGCPercent, defaultCacheMiB,
		nmdb.DefaultMaxConns, nmdb.DefaultIdleTimeout, nmdb.DefaultFrameTimeout)
}
