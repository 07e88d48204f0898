// Package sockfd keeps a non-blocking socket descriptor in Go's network
// poller, for the packet sockets of packages tipc and sctp: reads and
// writes park the goroutine rather than a thread in a system call, and
// deadlines and Close wake blocked callers. It has the plumbing those
// sockets share; what is particular to each protocol stays in its package.
package sockfd
