//go:build !race

package nmdb

import (
	"bytes"
	"encoding/binary"
	"io"
	"testing"

	"github.com/nmdb-go/nmdb/nmdb/wire"
)

// TestTCPReplyNoAllocations: cache hits served over TCP allocate nothing
// in the process (server reading, handling and writing, and the test's own
// socket calls), whether requests come one at a time or pipelined.
func TestTCPReplyNoAllocations(t *testing.T) {
	ts := startServer(t, serverOpts{cfg: Config{Backend: "null"}})
	c := ts.dial()
	const val = "a value of some thirty bytes.."
	expect(t, "set", c.Do(setReq("key:12345", val, cOnly)), wire.CodeOK)
	req, err := wire.AppendRequest(nil, &wire.Request{ID: 7, Op: wire.OpGet, Key: []byte("key:12345")})
	if err != nil {
		t.Fatal(err)
	}
	frame := binary.BigEndian.AppendUint32(nil, uint32(wire.TCPPrefix+len(req)))
	frame = append(frame, req...)
	want, start := wire.BeginFrame(nil)
	want = wire.EndFrame(wire.AppendValue(want, 7, wire.CodeCacheHit, []byte(val)), start)
	reply := make([]byte, len(want))

	for _, tc := range []struct {
		name  string
		batch int // requests written at once
		loops int // batches per run
	}{
		{"one in flight", 1, 16},
		{"pipelined", 32, 1},
	} {
		batch := bytes.Repeat(frame, tc.batch)
		run := func() {
			for range tc.loops {
				if _, err := c.Conn.Write(batch); err != nil {
					t.Fatal(err)
				}
				for range tc.batch {
					if _, err := io.ReadFull(c.Conn, reply); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		run() // warm up: buffers reach their working size
		if !bytes.Equal(reply, want) {
			t.Fatalf("%s: reply %q, want %q", tc.name, reply, want)
		}
		if n := testing.AllocsPerRun(50, run); n != 0 {
			t.Errorf("%s: %v allocations per %d cache hits, want 0", tc.name, n, tc.batch*tc.loops)
		}
	}
}
