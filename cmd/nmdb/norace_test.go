//go:build !race

package main

// raceBuild makes TestMain build the daemon with the race detector too.
const raceBuild = false
