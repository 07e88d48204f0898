package tipc

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Service instances of the topology tests (see conn_linux_test.go).
const (
	instTopoLocal = 4300 + iota
	instTopoProc
	instTopoBarrier
)

// topoChildEnv makes the test binary, run again as a child process, bind a
// service and wait (see topoChild).
const topoChildEnv = "NMDB_TIPC_TOPO_CHILD"

func TestMain(m *testing.M) {
	if v := os.Getenv(topoChildEnv); v != "" {
		os.Exit(topoChild(v))
	}
	os.Exit(m.Run())
}

// topoChild binds {ServiceType, inst}, prints its socket address, and
// waits until its standard input closes (or it is killed).
func topoChild(v string) int {
	inst, err := strconv.ParseUint(v, 10, 32)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	c, err := Listen(ServiceType, uint32(inst), uint32(inst))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	a, err := c.SocketAddr()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("%d %d\n", a.Node, a.Ref)
	bufio.NewReader(os.Stdin).ReadString('\n')
	return 0
}

func openTopology(t *testing.T) *Topology {
	t.Helper()
	top, err := OpenTopology()
	skipIfUnsupported(t, err)
	t.Cleanup(func() { top.Close() })
	if err := top.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	return top
}

func readEvent(t *testing.T, top *Topology) Event {
	t.Helper()
	ev, err := top.Read()
	if err != nil {
		t.Fatalf("reading a topology event: %v", err)
	}
	return ev
}

// expect reads the next event and checks its kind, type and socket.
func expect(t *testing.T, top *Topology, kind EventKind, typ uint32, sock Addr, handle uint64) {
	t.Helper()
	ev := readEvent(t, top)
	if ev.Kind != kind || ev.Type != typ || ev.Socket != sock || ev.Handle != handle {
		t.Fatalf("event %v (handle %d), want %v of type %d by %v (handle %d)", ev, ev.Handle, kind, typ, &sock, handle)
	}
}

// Names bound, bound again, unbound and closed by sockets of this process
// are reported in order, each with the socket that did it.
func TestTopologyLocal(t *testing.T) {
	top := openTopology(t)
	const other = ServiceType + 7
	if err := top.Subscribe(ServiceType, instTopoLocal, instTopoLocal, 1); err != nil {
		t.Fatal(err)
	}
	if err := top.Subscribe(other, instTopoLocal, instTopoLocal, 2); err != nil {
		t.Fatal(err)
	}
	if err := top.Barrier(3); err != nil {
		t.Fatal(err)
	}
	// Nothing is bound yet: the first event is the barrier's.
	if ev := readEvent(t, top); ev.Kind != Timeout || ev.Handle != 3 {
		t.Fatalf("first event %v (handle %d), want the barrier's timeout", ev, ev.Handle)
	}
	c := listen(t, instTopoLocal)
	sa, err := c.SocketAddr()
	if err != nil {
		t.Fatal(err)
	}
	expect(t, top, Published, ServiceType, *sa, 1)
	if err := c.Bind(other, instTopoLocal, instTopoLocal); err != nil {
		t.Fatal(err)
	}
	expect(t, top, Published, other, *sa, 2)
	if err := c.Unbind(other, instTopoLocal, instTopoLocal); err != nil {
		t.Fatal(err)
	}
	expect(t, top, Withdrawn, other, *sa, 2)
	if err := c.Bind(other, instTopoLocal, instTopoLocal); err != nil {
		t.Fatal(err)
	}
	expect(t, top, Published, other, *sa, 2)
	// Closing withdraws every name of the socket.
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	got := map[uint32]bool{}
	for range 2 {
		ev := readEvent(t, top)
		if ev.Kind != Withdrawn || ev.Socket != *sa {
			t.Fatalf("after close: %v", ev)
		}
		got[ev.Type] = true
	}
	if !got[ServiceType] || !got[other] {
		t.Errorf("withdrawn on close: %v, want both names", got)
	}
	if err := c.Unbind(other, instTopoLocal, instTopoLocal); err == nil {
		t.Error("Unbind on a closed socket succeeded")
	}
	if err := top.Subscribe(ServiceType, 5, 4, 9); err == nil {
		t.Error("Subscribe with upper < lower succeeded")
	}
}

// A name bound before the subscription is reported at once; the barrier's
// event comes after it.
func TestTopologyBarrier(t *testing.T) {
	c := listen(t, instTopoBarrier)
	sa, err := c.SocketAddr()
	if err != nil {
		t.Fatal(err)
	}
	top := openTopology(t)
	if err := top.Subscribe(ServiceType, instTopoBarrier, instTopoBarrier, 1); err != nil {
		t.Fatal(err)
	}
	if err := top.Barrier(2); err != nil {
		t.Fatal(err)
	}
	expect(t, top, Published, ServiceType, *sa, 1)
	if ev := readEvent(t, top); ev.Kind != Timeout || ev.Handle != 2 {
		t.Fatalf("event %v (handle %d), want the barrier's timeout", ev, ev.Handle)
	}
	top.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if ev, err := top.Read(); err == nil {
		t.Errorf("unexpected event %v", ev)
	}
	top.Close()
	if _, err := top.Read(); err == nil {
		t.Error("Read after Close succeeded")
	}
}

// Real processes: a name is withdrawn when the process that bound it exits
// and when it is killed with SIGKILL.
func TestTopologyProcessExit(t *testing.T) {
	top := openTopology(t)
	if err := top.Subscribe(ServiceType, instTopoProc, instTopoProc, 1); err != nil {
		t.Fatal(err)
	}
	for _, kill := range []bool{false, true} {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d", topoChildEnv, instTopoProc))
		cmd.Stderr = os.Stderr
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil {
			t.Fatalf("child: %v", err)
		}
		f := strings.Fields(line)
		node, err1 := strconv.ParseUint(f[0], 10, 32)
		ref, err2 := strconv.ParseUint(f[1], 10, 32)
		if len(f) != 2 || err1 != nil || err2 != nil {
			t.Fatalf("child printed %q", line)
		}
		sa := *SocketAddr(uint32(ref), uint32(node))
		expect(t, top, Published, ServiceType, sa, 1)
		if kill {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
		} else {
			stdin.Close()
		}
		expect(t, top, Withdrawn, ServiceType, sa, 1)
		err = cmd.Wait()
		if kill != (err != nil) {
			t.Errorf("child (killed %v) ended with %v", kill, err)
		}
	}
}

func TestDecodeEvent(t *testing.T) {
	b := make([]byte, sizeofEvent)
	ne := binary.NativeEndian
	for i, w := range []uint32{2, 10, 12, 77, 0x1001002, 26001, 10, 12, ^uint32(0), 1} {
		ne.PutUint32(b[4*i:], w)
	}
	ne.PutUint64(b[40:], 0xabcdef)
	ev := decodeEvent(b)
	want := Event{Kind: Withdrawn, Type: 26001, Lower: 10, Upper: 12, Socket: *SocketAddr(77, 0x1001002), Handle: 0xabcdef}
	if ev != want {
		t.Fatalf("decoded %+v, want %+v", ev, want)
	}
	if sizeofSubscr != 28 || sizeofEvent != 48 {
		t.Errorf("struct sizes %d, %d; want 28, 48", sizeofSubscr, sizeofEvent)
	}
	if s := ev.String(); s != "withdrawn {26001,10,12} by <1001002:77>" {
		t.Errorf("String() = %q", s)
	}
	if !Less(*SocketAddr(9, 1), *SocketAddr(1, 2)) || Less(*SocketAddr(2, 1), *SocketAddr(1, 1)) {
		t.Error("Less does not order by node, then reference")
	}
}
