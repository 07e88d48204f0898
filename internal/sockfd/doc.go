// Package sockfd is the raw socket layer of every transport. Op is one
// non-blocking system call on a socket (recvfrom, recvmsg or sendto) with
// its buffer, address and results, the function handed to the runtime made
// once: the server's TCP and UDP readers and writers, the TIPC and SCTP
// connections, the TIPC topology connection and the client's TCP stream
// all make their system calls through it. FD keeps a socket descriptor
// that the standard library does not wrap (TIPC's, SCTP's) in Go's network
// poller, so that reads and writes park the goroutine rather than a thread
// in a system call, and deadlines and Close wake blocked callers. What is
// particular to each protocol stays in its package.
package sockfd
