package nmdb

import "github.com/nmdb-go/nmdb/internal/sockfd"

// rawOp is one raw system call through a connection's descriptor (see
// sockfd.Op): the TCP reader's recvfrom, made after polling its socket
// briefly before it sleeps (spinner), and the non-blocking sendto of the
// one writing. Being raw calls, made without telling the Go scheduler,
// they do not wake the runtime's monitor thread whenever the process was
// idle, which with one request in flight is on every request: measured,
// that was an extra futex and nanosleep call and an extra thread switch
// per request, on the other core, where the client runs.
type rawOp = sockfd.Op
