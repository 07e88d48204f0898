package tipc

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"
)

// The tests in this file need a TIPC cluster of several nodes and run only
// when told to through the environment (the VM harness does):
//
//	NMDB_TIPC_ECHO=INST     TestClusterEcho serves {26001, INST}: it echoes
//	                        every request, prefixed with its node address,
//	                        until a request "quit" (or 60 s of silence).
//	NMDB_TIPC_REMOTE=INST   TestClusterClient sends requests to
//	NMDB_TIPC_SERVERS=N     {26001, INST} and expects replies from N servers
//	                        on N other nodes.

func envInstance(t *testing.T, name string) uint32 {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		t.Skipf("needs a multi-node TIPC cluster; set %s to run it", name)
	}
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, v, err)
	}
	return uint32(n)
}

func TestClusterEcho(t *testing.T) {
	inst := envInstance(t, "NMDB_TIPC_ECHO")
	srv, err := Listen(ServiceType, inst, inst)
	skipIfUnsupported(t, err)
	defer srv.Close()
	self, err := srv.SocketAddr()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("serving {26001,%d} as %v", inst, self)
	buf := make([]byte, MaxMessage)
	served := 0
	for {
		if err := srv.SetReadDeadline(time.Now().Add(60 * time.Second)); err != nil {
			t.Fatal(err)
		}
		var from Addr
		n, err := srv.ReadFromTIPC(buf, &from)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if string(buf[:n]) == "quit" {
			break
		}
		reply := fmt.Appendf(nil, "%x:", self.Node)
		reply = append(reply, buf[:n]...)
		if _, err := srv.WriteToTIPC(reply, &from); err != nil {
			t.Fatalf("reply to %v: %v", &from, err)
		}
		served++
	}
	if served == 0 {
		t.Fatal("no request arrived")
	}
	t.Logf("served %d requests", served)
}

func TestClusterClient(t *testing.T) {
	inst := envInstance(t, "NMDB_TIPC_REMOTE")
	want, err := strconv.Atoi(os.Getenv("NMDB_TIPC_SERVERS"))
	if err != nil || want < 1 {
		want = 1
	}
	cl, err := Dial()
	skipIfUnsupported(t, err)
	defer cl.Close()
	self, err := cl.SocketAddr()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, MaxMessage+100)
	big := make([]byte, 65536+16)
	for i := range big {
		big[i] = byte(i % 251)
	}
	for round, msg := range [][]byte{[]byte("hello"), big} {
		if err := cl.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
			t.Fatal(err)
		}
		// Sent once to the range: every server gets it (multicast).
		if _, err := cl.WriteTo(msg, ServiceAddr(int(inst))); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		nodes := map[uint32]bool{}
		for range want {
			n, from, err := cl.ReadFrom(buf)
			if err != nil {
				t.Fatalf("round %d: %d of %d replies: %v", round, len(nodes), want, err)
			}
			a := from.(*Addr)
			if a.Node == 0 || a.Node == self.Node {
				t.Errorf("round %d: reply from %v, which is not another node (client %v)", round, a, self)
			}
			prefix := fmt.Sprintf("%x:", a.Node)
			if string(buf[:len(prefix)]) != prefix || string(buf[len(prefix):n]) != string(msg) {
				t.Errorf("round %d: reply from %v is not the echo of the request (%d bytes)", round, a, n)
			}
			nodes[a.Node] = true
		}
		if len(nodes) != want {
			t.Errorf("round %d: replies from %d distinct nodes, want %d", round, len(nodes), want)
		}
	}
	// No further reply is pending: the next read times out.
	cl.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, from, err := cl.ReadFrom(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("unexpected extra datagram (%d bytes from %v, err %v)", n, from, err)
	}
	if _, err := cl.WriteTo([]byte("quit"), ServiceAddr(int(inst))); err != nil {
		t.Errorf("telling the servers to stop: %v", err)
	}
}
