package nmdb

import (
	"context"
	"testing"

	"github.com/nmdb-go/nmdb/internal/store"
	"github.com/nmdb-go/nmdb/nmdb/wire"
)

// FuzzHandle feeds arbitrary messages to the request handler: it must
// answer each with at most one well-formed reply and never fail.
func FuzzHandle(f *testing.F) {
	for _, bm := range badMessages {
		f.Add(bm.msg)
	}
	for _, r := range []wire.Request{
		setReq("k", "1\x00", normal), getReq("k", normal), incrReq("k", 2, cOnly),
		casReq("k", "a", "b", normal), delReq("k", syncF), {Op: wire.OpStats}, {Op: wire.OpFirstKey},
	} {
		m, _ := wire.AppendRequest(nil, &r)
		f.Add(m)
	}
	s := newServer(Config{CacheObjects: 8}, store.Null{})
	f.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	m := newMemPacketConn()
	rt := &replyTo{pk: &packetConn{s: s, pc: m, t: SCTP, stat: wire.StatMsgSCTP}, addr: memAddr("fuzz")}
	sc := make([]byte, 0, 512)
	f.Fuzz(func(t *testing.T, msg []byte) {
		s.handle(msg, rt, &sc)
		// Replies from the database worker may come later; each is
		// checked when it shows up.
		for {
			select {
			case d := <-m.out:
				var r wire.Reply
				if err := wire.DecodeReply(d.b, &r); err != nil {
					t.Fatalf("server sent a malformed reply %x to %x: %v", d.b, msg, err)
				}
			default:
				return
			}
		}
	})
}
