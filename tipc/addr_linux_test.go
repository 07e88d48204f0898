package tipc

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

func TestServiceAddr(t *testing.T) {
	a := ServiceAddr(10)
	want := Addr{Kind: KindService, Type: 26001, Lower: 10, Upper: 10}
	if *a != want {
		t.Fatalf("ServiceAddr(10) = %+v, want %+v", *a, want)
	}
	if a.Network() != "tipc" {
		t.Errorf("Network() = %q", a.Network())
	}
	if got := a.String(); got != "{26001,10,10}" {
		t.Errorf("String() = %q", got)
	}
	if got := SocketAddr(3418323745, 0x1001002).String(); got != "<1001002:3418323745>" {
		t.Errorf("socket String() = %q", got)
	}
	if got := (*Addr)(nil).String(); got != "<nil>" {
		t.Errorf("nil String() = %q", got)
	}
	if KindService.String() != "service" || KindSocket.String() != "socket" || AddrKind(9).String() != "AddrKind(9)" {
		t.Errorf("AddrKind strings: %v %v %v", KindService, KindSocket, AddrKind(9))
	}
}

func TestRawServiceRange(t *testing.T) {
	var raw unix.RawSockaddrTIPC
	ServiceRange(26001, 11, 13).toRaw(&raw)
	if raw.Family != unix.AF_TIPC || raw.Addrtype != unix.TIPC_SERVICE_RANGE || raw.Scope != unix.TIPC_CLUSTER_SCOPE {
		t.Fatalf("header = %+v", raw)
	}
	for i, w := range []uint32{26001, 11, 13} {
		if got := binary.NativeEndian.Uint32(raw.Addr[4*i:]); got != w {
			t.Errorf("word %d = %d, want %d", i, got, w)
		}
	}
	// The layout must match what x/sys/unix produces for the same range
	// (struct sockaddr_tipc: u16 family, u8 addrtype, s8 scope, 3 x u32).
	b := (*[16]byte)(unsafe.Pointer(&raw))
	if b[2] != unix.TIPC_SERVICE_RANGE || b[3] != unix.TIPC_CLUSTER_SCOPE {
		t.Errorf("bytes 2,3 = %d,%d", b[2], b[3])
	}
	if binary.NativeEndian.Uint32(b[4:]) != 26001 {
		t.Errorf("type word at offset 4 = %d", binary.NativeEndian.Uint32(b[4:]))
	}
	var back Addr
	if err := back.fromRaw(&raw); err != nil {
		t.Fatal(err)
	}
	if back != *ServiceRange(26001, 11, 13) {
		t.Errorf("round trip = %+v", back)
	}
}

func TestRawSocketAddr(t *testing.T) {
	var raw unix.RawSockaddrTIPC
	SocketAddr(77, 0x1001001).toRaw(&raw)
	if raw.Family != unix.AF_TIPC || raw.Addrtype != unix.TIPC_SOCKET_ADDR {
		t.Fatalf("header = %+v", raw)
	}
	if binary.NativeEndian.Uint32(raw.Addr[0:]) != 77 || binary.NativeEndian.Uint32(raw.Addr[4:]) != 0x1001001 {
		t.Errorf("addr = %v", raw.Addr)
	}
	var back Addr
	if err := back.fromRaw(&raw); err != nil {
		t.Fatal(err)
	}
	if back != *SocketAddr(77, 0x1001001) {
		t.Errorf("round trip = %+v", back)
	}
}

func TestRawServiceName(t *testing.T) {
	raw := unix.RawSockaddrTIPC{Family: unix.AF_TIPC, Addrtype: unix.TIPC_SERVICE_ADDR}
	binary.NativeEndian.PutUint32(raw.Addr[0:], 26001)
	binary.NativeEndian.PutUint32(raw.Addr[4:], 12)
	var a Addr
	if err := a.fromRaw(&raw); err != nil {
		t.Fatal(err)
	}
	if a != *ServiceAddr(12) {
		t.Errorf("service name decoded as %+v", a)
	}
}

func TestRawBad(t *testing.T) {
	var a Addr
	if err := a.fromRaw(&unix.RawSockaddrTIPC{Family: unix.AF_INET}); err == nil {
		t.Error("AF_INET accepted")
	}
	if err := a.fromRaw(&unix.RawSockaddrTIPC{Family: unix.AF_TIPC, Addrtype: 9}); err == nil {
		t.Error("address type 9 accepted")
	}
}

func TestValid(t *testing.T) {
	for _, c := range []struct {
		a  *Addr
		ok bool
	}{
		{ServiceAddr(10), true},
		{ServiceRange(1, 5, 9), true},
		{ServiceRange(1, 9, 5), false},
		{SocketAddr(1, 0), true},
		{&Addr{}, false},
		{nil, false},
	} {
		if err := c.a.valid(); (err == nil) != c.ok {
			t.Errorf("%v.valid() = %v, want ok=%v", c.a, err, c.ok)
		}
	}
}

// cmsg builds one control message as the kernel lays it out.
func cmsg(level, typ int32, data []byte) []byte {
	b := make([]byte, unix.CmsgSpace(len(data)))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level, h.Type = level, typ
	h.SetLen(unix.CmsgLen(len(data)))
	copy(b[unix.CmsgLen(0):], data)
	return b
}

func TestHasCmsg(t *testing.T) {
	destname := cmsg(unix.SOL_TIPC, unix.TIPC_DESTNAME, make([]byte, 12))
	errinfo := cmsg(unix.SOL_TIPC, unix.TIPC_ERRINFO, make([]byte, 8))
	retdata := cmsg(unix.SOL_TIPC, unix.TIPC_RETDATA, make([]byte, 40))
	returned := append(append([]byte{}, errinfo...), retdata...)
	for _, c := range []struct {
		name string
		b    []byte
		want bool
	}{
		{"empty", nil, false},
		{"destname", destname, false},
		{"errinfo", errinfo, true},
		{"errinfo+retdata truncated", returned[:oobSize], true},
		{"destname then errinfo", append(append([]byte{}, destname...), errinfo...), true},
		{"other level", cmsg(unix.SOL_SOCKET, unix.TIPC_ERRINFO, make([]byte, 8)), false},
		{"short", errinfo[:8], false},
	} {
		if got := hasCmsg(c.b, unix.SOL_TIPC, unix.TIPC_ERRINFO); got != c.want {
			t.Errorf("%s: hasCmsg = %v, want %v", c.name, got, c.want)
		}
	}
	// A zero cmsg_len must not loop forever.
	if hasCmsg(make([]byte, 32), unix.SOL_TIPC, unix.TIPC_ERRINFO) {
		t.Error("zero header matched")
	}
}

func TestErrUnsupportedMessage(t *testing.T) {
	if !strings.Contains(ErrUnsupported.Error(), "modprobe tipc") {
		t.Errorf("ErrUnsupported does not say how to fix it: %q", ErrUnsupported)
	}
}

func TestListenBadRange(t *testing.T) {
	_, err := Listen(ServiceType, 9, 5)
	if err == nil || errors.Is(err, ErrUnsupported) {
		t.Fatalf("Listen with upper < lower: err = %v", err)
	}
}
