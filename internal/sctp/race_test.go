//go:build linux && race

package sctp

// raceEnabled is true under the race detector, whose sync.Pool drops
// items at random, so allocation counts are meaningless there.
const raceEnabled = true
