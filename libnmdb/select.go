package libnmdb

// Hash is the key hash classic nmdb clients shard by: the one's complement
// of a 16-bit folded sum of overlapping little-endian 16-bit words.
func Hash(key []byte) uint32 {
	n := len(key)
	var s uint32
	for i := 0; i < n/2; i++ {
		s += uint32(key[i]) | uint32(key[i+1])<<8
	}
	if n%2 == 1 {
		s += uint32(key[n/2])
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^s
}

// Select returns the index, among n servers in sharding order (see
// Sharding), of the server that holds key under ShardingClassic. It picks
// the same server as every nmdb client built from the C library. n must
// be positive.
func Select(key []byte, n int) int {
	return int(Hash(key) % uint32(n))
}
