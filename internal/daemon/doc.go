// Package daemon holds what turns a program into a Unix daemon when the
// language cannot fork: running the program again in a new session with a
// readiness pipe (Start, Ready), a pid file (PidFile), and a log file that can
// be reopened after rotation (LogFile).
//
// Going to the background works in two processes. The parent calls Start,
// which runs the same executable with the same arguments plus a marker in its
// environment, in a new session, with standard input from /dev/null and the
// write end of a pipe as file descriptor 3. The child sees the marker
// (IsChild), sets itself up, and calls Ready once it serves requests, or Fail
// with the reason it cannot. Start returns nil in the parent once the child
// reported ready, or the child's error.
package daemon
