package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

func mustAppend(t *testing.T, r *Request) []byte {
	t.Helper()
	b, err := AppendRequest(nil, r)
	if err != nil {
		t.Fatalf("AppendRequest(%v): %v", r.Op, err)
	}
	return b
}

func TestRequestRoundTrip(t *testing.T) {
	reqs := []Request{
		{ID: 1, Op: OpGet, Key: []byte("k")},
		{ID: 2, Op: OpGet, Flags: FlagCacheOnly, Key: []byte{}},
		{ID: 3, Op: OpSet, Flags: FlagSync, Key: []byte("key"), Val: []byte("value")},
		{ID: 4, Op: OpDel, Key: []byte("gone")},
		{ID: 5, Op: OpCAS, Key: []byte("c"), Old: []byte("old"), Val: []byte("newer")},
		{ID: 6, Op: OpIncr, Key: []byte("n"), Delta: -42},
		{ID: 7, Op: OpStats},
		{ID: 8, Op: OpFirstKey},
		{ID: IDMask, Op: OpNextKey, Key: []byte("after")},
	}
	for _, want := range reqs {
		msg := mustAppend(t, &want)
		n, err := RequestSize(&want)
		if err != nil || n != len(msg) {
			t.Errorf("%v: RequestSize = %d, %v; encoded %d bytes", want.Op, n, err, len(msg))
		}
		var got Request
		if err := DecodeRequest(msg, &got); err != nil {
			t.Fatalf("%v: DecodeRequest: %v", want.Op, err)
		}
		if got.ID != want.ID || got.Op != want.Op || got.Flags != want.Flags ||
			!bytes.Equal(got.Key, want.Key) || !bytes.Equal(got.Val, want.Val) ||
			!bytes.Equal(got.Old, want.Old) || got.Delta != want.Delta {
			t.Errorf("round trip of %+v gave %+v", want, got)
		}
	}
}

func TestRequestEncodingIsClassic(t *testing.T) {
	// A SET of key "ab", value "xyz", id 1, sync, written out by hand from
	// the protocol description.
	want := []byte{
		0x10, 0, 0, 1, // version 1, id 1
		0x01, 0x02, // SET
		0, 2, // SYNC
		0, 0, 0, 2, // ksize
		0, 0, 0, 3, // vsize
		'a', 'b', 'x', 'y', 'z',
	}
	got := mustAppend(t, &Request{ID: 1, Op: OpSet, Flags: FlagSync, Key: []byte("ab"), Val: []byte("xyz")})
	if !bytes.Equal(got, want) {
		t.Fatalf("SET encoding\n got %x\nwant %x", got, want)
	}
}

func TestDecodeRequestErrors(t *testing.T) {
	hdr := func(ver uint32, op Op, payload ...byte) []byte {
		b := binary.BigEndian.AppendUint32(nil, ver<<28|77)
		b = binary.BigEndian.AppendUint16(b, uint16(op))
		b = binary.BigEndian.AppendUint16(b, 0)
		return append(b, payload...)
	}
	u32 := func(n uint32) []byte { return binary.BigEndian.AppendUint32(nil, n) }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	big := make([]byte, MaxData+1)
	cases := []struct {
		name   string
		msg    []byte
		want   error
		wantID uint32
	}{
		{"empty", nil, ErrBroken, 0},
		{"short header", []byte{0x10, 0, 0, 5, 1}, ErrBroken, 5},
		{"version 0", hdr(0, OpGet, cat(u32(1), []byte("k"))...), ErrVersion, 77},
		{"version 2", hdr(2, OpStats), ErrVersion, 77},
		{"unknown op", hdr(1, 0x109), ErrUnknown, 77},
		{"get no size", hdr(1, OpGet, 0, 0), ErrBroken, 77},
		{"get key beyond message", hdr(1, OpGet, cat(u32(10), []byte("abc"))...), ErrBroken, 77},
		{"get key 4 GiB", hdr(1, OpGet, cat(u32(0xFFFFFFFF), []byte("abc"))...), ErrBroken, 77},
		{"get key over limit", hdr(1, OpGet, cat(u32(MaxData+1), big)...), ErrBroken, 77},
		{"set short", hdr(1, OpSet, cat(u32(1))...), ErrBroken, 77},
		{"set sum over limit", hdr(1, OpSet, cat(u32(40000), u32(40000), make([]byte, 80000))...), ErrBroken, 77},
		{"set value beyond", hdr(1, OpSet, cat(u32(1), u32(5), []byte("kvv"))...), ErrBroken, 77},
		{"set overflowing sizes", hdr(1, OpSet, cat(u32(0xFFFFFFFF), u32(2), []byte("kv"))...), ErrBroken, 77},
		{"cas short", hdr(1, OpCAS, cat(u32(1), u32(1))...), ErrBroken, 77},
		{"cas beyond", hdr(1, OpCAS, cat(u32(1), u32(1), u32(9), []byte("kon"))...), ErrBroken, 77},
		{"incr no delta", hdr(1, OpIncr, cat(u32(1), []byte("k"), []byte{0, 0, 0})...), ErrBroken, 77},
		{"nextkey beyond", hdr(1, OpNextKey, cat(u32(2), []byte("k"))...), ErrBroken, 77},
	}
	for _, c := range cases {
		var r Request
		err := DecodeRequest(c.msg, &r)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
		if r.ID != c.wantID {
			t.Errorf("%s: id = %d, want %d", c.name, r.ID, c.wantID)
		}
	}
}

func TestLimits(t *testing.T) {
	max := make([]byte, MaxData)
	ok := []Request{
		{Op: OpGet, Key: max},
		{Op: OpSet, Key: max[:1], Val: max[:MaxData-1]},
		{Op: OpCAS, Key: max[:10], Old: max[:10], Val: max[:MaxData-20]},
		{Op: OpIncr, Key: max[:MaxData-8]},
	}
	for _, r := range ok {
		msg := mustAppend(t, &r)
		if len(msg) > MaxMessage {
			t.Errorf("%v at the limit encodes to %d > MaxMessage", r.Op, len(msg))
		}
		var got Request
		if err := DecodeRequest(msg, &got); err != nil {
			t.Errorf("%v at the limit: %v", r.Op, err)
		}
	}
	tooBig := []Request{
		{Op: OpGet, Key: make([]byte, MaxData+1)},
		{Op: OpSet, Key: max[:1], Val: max},
		{Op: OpCAS, Key: max[:10], Old: max[:10], Val: max[:MaxData-19]},
		{Op: OpIncr, Key: max[:MaxData-7]},
	}
	for _, r := range tooBig {
		b, err := AppendRequest([]byte("x"), &r)
		if !errors.Is(err, ErrTooBig) || string(b) != "x" {
			t.Errorf("%v over the limit: err %v, appended %d bytes", r.Op, err, len(b)-1)
		}
	}
	if _, err := AppendRequest(nil, &Request{Op: 0x999}); !errors.Is(err, ErrUnknown) {
		t.Errorf("unknown op: %v", err)
	}
}

func TestReplies(t *testing.T) {
	var r Reply
	check := func(msg []byte, id uint32, c Code) {
		t.Helper()
		if err := DecodeReply(msg, &r); err != nil {
			t.Fatalf("DecodeReply(%x): %v", msg, err)
		}
		if r.ID != id || r.Code != c {
			t.Fatalf("got id %d code %v, want %d %v", r.ID, r.Code, id, c)
		}
	}
	check(AppendReply(nil, 9, CodeNotIn), 9, CodeNotIn)
	if r.Val != nil {
		t.Errorf("NOTIN carries %q", r.Val)
	}
	check(AppendReply(nil, 9, CodeOK), 9, CodeOK)
	check(AppendError(nil, 3, ErrCodeReadOnly), 3, CodeErr)
	if r.Err != ErrCodeReadOnly || !errors.Is(r.Err, ErrCodeReadOnly) {
		t.Errorf("err code %v", r.Err)
	}
	check(AppendValue(nil, 4, CodeCacheHit, []byte("hello")), 4, CodeCacheHit)
	if string(r.Val) != "hello" {
		t.Errorf("value %q", r.Val)
	}
	check(AppendValue(nil, 4, CodeOK, []byte{}), 4, CodeOK)
	if r.Val == nil || len(r.Val) != 0 {
		t.Errorf("empty value decoded as %#v", r.Val)
	}
	check(AppendIncr(nil, 5, -7), 5, CodeOK)
	if n, err := r.Int64(); err != nil || n != -7 {
		t.Errorf("incr %d %v", n, err)
	}
	counters := make([]uint64, NumStats)
	for i := range counters {
		counters[i] = uint64(i * 1000)
	}
	msg := AppendStats(nil, 6, counters)
	if got := binary.BigEndian.Uint32(msg[8:]); got != uint32(8*NumStats) {
		t.Errorf("stats size %d", got)
	}
	check(msg, 6, CodeOK)
	got, err := r.Counters(nil)
	if err != nil || len(got) != NumStats || got[NumStats-1] != counters[NumStats-1] {
		t.Errorf("counters %v %v", got, err)
	}
	for _, bad := range [][]byte{
		nil,
		{0, 0, 0, 1, 0, 0, 8},
		AppendReply(nil, 1, 0x999),
		AppendReply(nil, 1, CodeErr),
		append(AppendReply(nil, 1, CodeCacheHit), 0, 0, 0, 9, 'x'),
	} {
		if err := DecodeReply(bad, &r); !errors.Is(err, ErrBadReply) {
			t.Errorf("DecodeReply(%x) = %v, want ErrBadReply", bad, err)
		}
	}
}

func TestFrames(t *testing.T) {
	b, start := BeginFrame([]byte("prefix"))
	b = AppendReply(b, 1, CodeOK)
	b = EndFrame(b, start)
	n, err := FrameLen(b[start-TCPPrefix:])
	if err != nil || n != HeaderSize {
		t.Fatalf("FrameLen = %d, %v", n, err)
	}
	if got := binary.BigEndian.Uint32(b[start-TCPPrefix:]); got != TCPPrefix+HeaderSize {
		t.Errorf("prefix %d counts itself wrongly", got)
	}
	for _, bad := range []uint32{0, 4, 7, TCPPrefix + MaxMessage + 1, 0xFFFFFFFF} {
		if _, err := FrameLen(binary.BigEndian.AppendUint32(nil, bad)); !errors.Is(err, ErrBroken) {
			t.Errorf("FrameLen(%d) = %v", bad, err)
		}
	}
}

func TestCounters(t *testing.T) {
	good := map[string]int64{
		"0\x00": 0, "42\x00": 42, "-5\x00": -5, "+7\x00": 7, "  \t12\x00": 12,
		"                     42\x00":    42,
		"9223372036854775807\x00":        9223372036854775807,
		string(AppendCounter(nil, -123)): -123,
	}
	for s, want := range good {
		if n, ok := ParseCounter([]byte(s)); !ok || n != want {
			t.Errorf("ParseCounter(%q) = %d, %v; want %d", s, n, ok, want)
		}
	}
	for _, s := range []string{"", "\x00", "42", "4x\x00", "abc\x00", "- 1\x00", "1 \x00", "9223372036854775808\x00", "--1\x00", "+\x00", "1\x002\x00"} {
		if n, ok := ParseCounter([]byte(s)); ok {
			t.Errorf("ParseCounter(%q) accepted as %d", s, n)
		}
	}
	v := AppendCounter(nil, 42)
	if len(v) != IncrWidth || string(v) != "                     42\x00" {
		t.Errorf("AppendCounter(42) = %q", v)
	}
	n, out, ok := Incr(nil, v, 8)
	if !ok || n != 50 || string(out) != "                     50\x00" {
		t.Errorf("Incr = %d %q %v", n, out, ok)
	}
	if _, _, ok := Incr(nil, []byte("x\x00"), 1); ok {
		t.Error("Incr accepted a non-number")
	}
}

func TestStatNames(t *testing.T) {
	if ClassicStats != 23 {
		t.Fatalf("ClassicStats = %d", ClassicStats)
	}
	seen := map[string]bool{}
	for i := 0; i < NumStats; i++ {
		n := StatName(i)
		if n == "" || n == "unknown" || seen[n] {
			t.Errorf("StatName(%d) = %q", i, n)
		}
		seen[n] = true
	}
	if StatName(StatDBNextKey) != "db nextkey" || StatName(NumStats) != "unknown" {
		t.Error("stat names out of order")
	}
}

func TestDecodeDoesNotAllocate(t *testing.T) {
	msg := mustAppend(t, &Request{ID: 1, Op: OpCAS, Key: []byte("k"), Old: []byte("o"), Val: []byte("n")})
	rep := AppendValue(nil, 1, CodeCacheHit, []byte("v"))
	var r Request
	var p Reply
	buf := make([]byte, 0, 128)
	if n := testing.AllocsPerRun(100, func() {
		_ = DecodeRequest(msg, &r)
		_ = DecodeReply(rep, &p)
		buf, _ = AppendRequest(buf[:0], &r)
		buf = AppendValue(buf[:0], 1, CodeOK, r.Key)
	}); n != 0 {
		t.Errorf("%v allocations per decode/encode", n)
	}
}

func FuzzDecodeRequest(f *testing.F) {
	for _, r := range []Request{
		{ID: 1, Op: OpGet, Key: []byte("k")},
		{ID: 2, Op: OpSet, Key: []byte("key"), Val: []byte("value")},
		{ID: 3, Op: OpCAS, Key: []byte("c"), Old: []byte("o"), Val: []byte("n")},
		{ID: 4, Op: OpIncr, Key: []byte("n"), Delta: 5},
		{ID: 5, Op: OpStats},
		{ID: 6, Op: OpNextKey, Key: []byte("x")},
	} {
		b, _ := AppendRequest(nil, &r)
		f.Add(b)
	}
	f.Add([]byte{0x10, 0, 0, 1, 1, 2, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, msg []byte) {
		var r Request
		if err := DecodeRequest(msg, &r); err != nil {
			if len(msg) >= 4 && r.ID != uint32(msg[0]&0x0f)<<24|uint32(msg[1])<<16|uint32(msg[2])<<8|uint32(msg[3]) {
				t.Fatalf("error reply would carry id %d", r.ID)
			}
			_ = ErrCodeFor(err)
			return
		}
		// Whatever decodes must fit the limits and re-encode to a message
		// that decodes to the same request.
		if len(r.Key) > MaxData || len(r.Val) > MaxData || len(r.Old) > MaxData ||
			len(r.Key)+len(r.Val)+len(r.Old) > MaxData {
			t.Fatalf("decoded sizes beyond limits: %d %d %d", len(r.Key), len(r.Val), len(r.Old))
		}
		again, err := AppendRequest(nil, &r)
		if err != nil {
			t.Fatalf("re-encoding a decoded request: %v", err)
		}
		var r2 Request
		if err := DecodeRequest(again, &r2); err != nil {
			t.Fatalf("decoding a re-encoded request: %v", err)
		}
		if r2.ID != r.ID || r2.Op != r.Op || r2.Flags != r.Flags || r2.Delta != r.Delta ||
			!bytes.Equal(r2.Key, r.Key) || !bytes.Equal(r2.Val, r.Val) || !bytes.Equal(r2.Old, r.Old) {
			t.Fatalf("round trip changed the request: %+v vs %+v", r, r2)
		}
	})
}

func FuzzDecodeReply(f *testing.F) {
	f.Add(AppendValue(nil, 1, CodeCacheHit, []byte("v")))
	f.Add(AppendStats(nil, 1, make([]uint64, NumStats)))
	f.Add(AppendError(nil, 1, ErrCodeBroken))
	f.Fuzz(func(t *testing.T, msg []byte) {
		var r Reply
		if err := DecodeReply(msg, &r); err != nil {
			return
		}
		if len(r.Val) > len(msg) {
			t.Fatalf("value of %d bytes from a %d-byte message", len(r.Val), len(msg))
		}
		_, _ = r.Int64()
		_, _ = r.Counters(nil)
	})
}

// TestTransportNames checks the names and the sharding order of the
// transports, which server and clients share.
func TestTransportNames(t *testing.T) {
	for i, want := range []string{"tipc", "tcp", "udp", "sctp", "transport(4)"} {
		if got := Transport(i).String(); got != want {
			t.Errorf("Transport(%d) = %q, want %q", i, got, want)
		}
	}
}

func TestMessageID(t *testing.T) {
	req, err := AppendRequest(nil, &Request{ID: IDMask, Op: OpGet, Key: []byte("k")})
	if err != nil {
		t.Fatal(err)
	}
	if id := MessageID(req); id != IDMask {
		t.Errorf("request id %#x, want %#x (the version bits are not the id)", id, IDMask)
	}
	if id := MessageID(AppendReply(nil, 12345, CodeOK)); id != 12345 {
		t.Errorf("reply id %d, want 12345", id)
	}
}
