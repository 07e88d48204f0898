package sctp

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

func TestSockaddrInet4(t *testing.T) {
	var sa sockaddr
	ap := netip.MustParseAddrPort("127.0.0.1:26010")
	l, err := sa.encode(unix.AF_INET, ap)
	if err != nil {
		t.Fatal(err)
	}
	if l != 16 {
		t.Errorf("length %d, want 16", l)
	}
	b := (*[16]byte)(unsafe.Pointer(&sa.raw))
	// sin_port is big-endian: 26010 = 0x659a.
	if b[2] != 0x65 || b[3] != 0x9a || b[4] != 127 || b[7] != 1 {
		t.Errorf("raw bytes % x", b[:8])
	}
	got, err := sa.decode(l)
	if err != nil || got != ap {
		t.Errorf("decode = %v, %v", got, err)
	}
	if _, err := sa.encode(unix.AF_INET, netip.MustParseAddrPort("[::1]:1")); err == nil {
		t.Error("IPv6 address encoded for an IPv4 socket")
	}
	// IPv4-mapped addresses fit an IPv4 socket.
	if _, err := sa.encode(unix.AF_INET, netip.MustParseAddrPort("[::ffff:10.0.0.1]:1")); err != nil {
		t.Error(err)
	}
}

func TestSockaddrInet6(t *testing.T) {
	var sa sockaddr
	for _, s := range []string{"[::1]:7", "[fe80::1]:65535", "10.1.2.3:26010"} {
		ap := netip.MustParseAddrPort(s)
		l, err := sa.encode(unix.AF_INET6, ap)
		if err != nil {
			t.Fatal(err)
		}
		if l != 28 || sa.raw.Family != unix.AF_INET6 {
			t.Errorf("%s: length %d family %d", s, l, sa.raw.Family)
		}
		got, err := sa.decode(l)
		if err != nil || got != ap {
			t.Errorf("%s: decode = %v, %v", s, got, err)
		}
	}
	// An IPv4 address on an AF_INET6 socket goes as IPv4-mapped.
	if _, err := sa.encode(unix.AF_INET6, netip.MustParseAddrPort("10.1.2.3:1")); err != nil {
		t.Fatal(err)
	}
	if !netip.AddrFrom16(sa.raw.Addr).Is4In6() {
		t.Errorf("address %v is not IPv4-mapped", netip.AddrFrom16(sa.raw.Addr))
	}
}

func TestSockaddrBad(t *testing.T) {
	var sa sockaddr
	if _, err := sa.encode(unix.AF_INET, netip.AddrPort{}); err == nil {
		t.Error("zero address encoded")
	}
	if _, err := sa.encode(unix.AF_UNIX, netip.MustParseAddrPort("1.2.3.4:5")); err == nil {
		t.Error("AF_UNIX accepted")
	}
	sa.raw.Family = unix.AF_INET6
	if _, err := sa.decode(16); err == nil {
		t.Error("short sockaddr_in6 decoded")
	}
	sa.raw.Family = unix.AF_UNIX
	if _, err := sa.decode(28); err == nil {
		t.Error("AF_UNIX decoded")
	}
}

func TestAddr(t *testing.T) {
	a := AddrFromAddrPort(netip.MustParseAddrPort("[::ffff:127.0.0.1]:26010"))
	if a.String() != "127.0.0.1:26010" || a.Network() != "sctp" {
		t.Errorf("Addr = %s %s", a.Network(), a)
	}
}

func TestResolve(t *testing.T) {
	for _, c := range []struct {
		network, address string
		listen           bool
		family           int
		want             string
	}{
		{"sctp", ":26010", true, unix.AF_INET6, "[::]:26010"},
		{"sctp4", ":0", true, unix.AF_INET, "0.0.0.0:0"},
		{"sctp", "127.0.0.1:5", false, unix.AF_INET, "127.0.0.1:5"},
		{"sctp", "[::1]:5", false, unix.AF_INET6, "[::1]:5"},
		{"sctp", ":5", false, unix.AF_INET, "127.0.0.1:5"},
		{"sctp6", "127.0.0.1:5", false, unix.AF_INET6, "127.0.0.1:5"},
	} {
		family, ap, err := resolve(t.Context(), c.network, c.address, c.listen)
		if err != nil || family != c.family || ap.String() != c.want {
			t.Errorf("resolve(%s, %s) = %d %v %v, want %d %s", c.network, c.address, family, ap, err, c.family, c.want)
		}
	}
	for _, c := range [][2]string{{"udp", ":1"}, {"sctp", "nonsense"}, {"sctp", ":70000"}, {"sctp", ":x"}} {
		if _, _, err := resolve(t.Context(), c[0], c[1], true); err == nil {
			t.Errorf("resolve(%s, %s) succeeded", c[0], c[1])
		}
	}
}

func TestParseAssocChange(t *testing.T) {
	b := make([]byte, 20)
	*(*uint16)(unsafe.Pointer(&b[0])) = snAssocChange
	*(*uint16)(unsafe.Pointer(&b[8])) = assocCantStart
	*(*uint16)(unsafe.Pointer(&b[10])) = 7
	typ, state, code := parseAssocChange(b)
	if typ != snAssocChange || state != assocCantStart || code != 7 {
		t.Errorf("parseAssocChange = %#x %d %d", typ, state, code)
	}
	if typ, _, _ := parseAssocChange(b[:8]); typ != 0 {
		t.Error("short notification parsed")
	}
}

func TestErrUnsupportedMessage(t *testing.T) {
	if !strings.Contains(ErrUnsupported.Error(), "modprobe sctp") {
		t.Errorf("ErrUnsupported does not say how to fix it: %q", ErrUnsupported)
	}
	if _, err := ListenPacket("tcp", ":0"); err == nil || errors.Is(err, ErrUnsupported) {
		t.Errorf("ListenPacket(tcp) = %v", err)
	}
}
