package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Defaults of the command line (SPEC section 6).
const (
	defaultBackend   = "pebble"
	defaultDBPath    = "database"
	defaultTIPCLower = 10
	defaultPort      = 26010
	defaultCacheK    = 128
	defaultLogFile   = "-"
	offValue         = "off"
	maxCacheK        = math.MaxInt / 1024 // -c x 1024 must fit an int
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
	gcPercent  int // -g; 0: not given
	logFile    string
	pidFile    string
	foreground bool
	passive    bool
	readOnly   bool
	help       bool
}

// Option letters that take a value, and those that do not (getopt's
// "b:d:l:L:t:T:u:U:s:S:c:o:i:fprh", and -g).
const (
	valueOpts = "bdlLtTuUsScoig"
	boolOpts  = "fprh"
)

// parseArgs parses the command line the way classic nmdb's getopt did:
// single-dash options, values either attached (-t26010) or as the next
// argument (-t 26010), options without values grouped (-fr), "--" ends the
// options. Operands are an error.
func parseArgs(args []string, backends []string) (*options, error) {
	o := &options{
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
		logFile:   defaultLogFile,
	}
	var (
		upper             uint32
		upperGiven, upOff bool
		udpOff            bool
	)
	set := func(c byte, v string) error {
		var err error
		switch c {
		case 'b':
			o.backend = v
		case 'd':
			if v == "" {
				return fmt.Errorf("-d: empty database path")
			}
			o.dbPath = v
		case 'l':
			o.tipcExplicit = true
			if isOff(v) {
				o.tipc = false
				return nil
			}
			o.tipc = true
			o.tipcLower, err = parseInstance(v)
		case 'L':
			o.tipcExplicit = true
			if isOff(v) {
				upOff = true
				return nil
			}
			upper, err = parseInstance(v)
			upperGiven = true
		case 't':
			o.tcp, o.tcpPort, err = parsePort(v)
		case 'T':
			o.tcpAddr = listenHost(v)
		case 'u':
			var on bool
			on, o.udpPort, err = parsePort(v)
			udpOff = !on
			o.udp = on
		case 'U':
			o.udpAddr = listenHost(v)
			o.udp = !udpOff
		case 's':
			o.sctpExplicit = true
			o.sctp, o.sctpPort, err = parsePort(v)
		case 'S':
			o.sctpExplicit = true
			o.sctpAddr = listenHost(v)
		case 'c':
			o.cacheK, err = strconv.Atoi(v)
			if err != nil || o.cacheK < 1 || o.cacheK > maxCacheK {
				return fmt.Errorf("-c: cache size %q is not a number of thousands of objects from 1 to %d", v, maxCacheK)
			}
		case 'g':
			o.gcPercent, err = strconv.Atoi(v)
			if err != nil || o.gcPercent < 1 || o.gcPercent > maxGCPercent {
				return fmt.Errorf("-g: garbage collector target %q is not a percentage from 1 to %d", v, maxGCPercent)
			}
		case 'o':
			if v == "" {
				return fmt.Errorf("-o: empty log file name")
			}
			o.logFile = v
		case 'i':
			if v == "" {
				return fmt.Errorf("-i: empty pid file name")
			}
			o.pidFile = v
		case 'f':
			o.foreground = true
		case 'p':
			o.passive = true
		case 'r':
			o.readOnly = true
		case 'h':
			o.help = true
		}
		if err != nil {
			return fmt.Errorf("-%c: %w", c, err)
		}
		return nil
	}

	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			if i+1 < len(args) {
				return nil, fmt.Errorf("unexpected argument %q", args[i+1])
			}
			break
		}
		if a == "--help" {
			o.help = true
			continue
		}
		if len(a) < 2 || a[0] != '-' || a[1] == '-' {
			return nil, fmt.Errorf("unexpected argument %q", a)
		}
		for j := 1; j < len(a); j++ {
			c := a[j]
			switch {
			case strings.IndexByte(boolOpts, c) >= 0:
				if err := set(c, ""); err != nil {
					return nil, err
				}
			case strings.IndexByte(valueOpts, c) >= 0:
				v := a[j+1:]
				if v == "" {
					if i+1 >= len(args) {
						return nil, fmt.Errorf("option -%c needs a value", c)
					}
					i++
					v = args[i]
				}
				if err := set(c, v); err != nil {
					return nil, err
				}
				j = len(a)
			default:
				return nil, fmt.Errorf("unknown option -%c", c)
			}
		}
	}
	if o.help {
		return o, nil
	}

	if upOff {
		o.tipc = false // -L off turns TIPC off like -l off
	}
	if o.tipc {
		o.tipcUpper = o.tipcLower
		if upperGiven {
			if upper < o.tipcLower {
				return nil, fmt.Errorf("-L: upper TIPC instance %d is below the lower one %d", upper, o.tipcLower)
			}
			o.tipcUpper = upper
		}
	}
	if err := checkBackend(o.backend, backends); err != nil {
		return nil, err
	}
	return o, nil
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
            [-c nobj] [-g percent] [-o logfile] [-i pidfile] [-f] [-p] [-r] [-h]

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
  -g percent  memory the garbage collector lets the heap grow by over the
              live data before it runs, in percent (like GOGC): lower uses
              less memory and more CPU while sets evict cached objects
              (default %[7]d, or $GOGC when set)
  -o logfile  log file, "-" for standard output (default "-")
  -i pidfile  write the process id here once listening; removed on exit
  -f          stay in the foreground (default: go to the background)
  -p          passive mode: act on every request but never reply
  -r          read-only mode: set, del, cas and incr are refused
  -h          show this help

UDP is off unless -u or -U is given: a small request from a forged source
address can pull a reply of up to 64 KiB onto a victim (reflection attack).

When the kernel lacks TIPC or SCTP, nmdb logs a warning and serves the other
transports, unless -l/-L (TIPC) or -s/-S (SCTP) asked for it: then it exits
with an error. For TIPC, load the kernel module: modprobe tipc.

Signals: SIGTERM, SIGINT stop after every queued database write is done;
SIGHUP reopens the log file; SIGUSR1 switches to read-only mode; SIGUSR2
toggles passive mode.
`, strings.Join(backends, ", "), defaultBackend, defaultDBPath, defaultTIPCLower,
		defaultPort, defaultCacheK, defaultGCPercent)
}
