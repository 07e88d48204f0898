package libnmdb

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// TestHealthBackoff walks the states of a server's health on a made-up
// clock: marked down by a failure, skipped for the period, one probe at a
// time, the period doubling per failed probe up to the maximum, and up
// again on the first reply.
func TestHealthBackoff(t *testing.T) {
	const first, most = 100 * time.Millisecond, time.Second
	var h health
	t0 := time.Unix(1000, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	boom := errors.New("connection refused")

	if probe, _, cause := h.admit(t0); probe || cause != nil {
		t.Fatal("a new server is not up")
	}
	if h.report(outUp, false, nil, t0, first, most) {
		t.Fatal("a reply from an up server changed its state")
	}
	if !h.report(outDown, false, boom, t0, first, most) || !h.down.Load() {
		t.Fatal("a failure did not mark the server down")
	}
	// A second failure of a call made before: the period stands.
	if h.report(outDown, false, boom, at(50*time.Millisecond), first, most) || h.retryAt != at(first) {
		t.Fatalf("a late failure moved the next try to %v", h.retryAt.Sub(t0))
	}
	if _, retry, cause := h.admit(at(99 * time.Millisecond)); cause != boom || retry != at(first) {
		t.Fatalf("within the period: cause %v, next try at %v", cause, retry.Sub(t0))
	}

	// Failed probes double the period up to the maximum; between probes
	// and while one is out, calls are turned away.
	now := at(first)
	want := []time.Duration{200, 400, 800, 1000, 1000}
	for i, w := range want {
		probe, _, cause := h.admit(now)
		if !probe || cause != nil {
			t.Fatalf("probe %d at %v: not admitted", i, now.Sub(t0))
		}
		if p, _, c := h.admit(now); p || c == nil {
			t.Fatalf("probe %d: a second call was admitted while the probe is out", i)
		}
		h.report(outDown, true, boom, now, first, most)
		if h.backoff != w*time.Millisecond {
			t.Fatalf("after failed probe %d: period %v, want %v", i, h.backoff, w*time.Millisecond)
		}
		now = h.retryAt
	}
	// A probe that ends without a verdict (its caller gave up) lets the
	// next call probe at once.
	if probe, _, _ := h.admit(now); !probe {
		t.Fatal("no probe admitted")
	}
	h.report(outNeutral, true, nil, now, first, most)
	if probe, _, _ := h.admit(now); !probe {
		t.Fatal("after a probe without a verdict, the next call is not the probe")
	}
	// A reply marks the server up: calls go through, and the next failure
	// starts from the first period again.
	if !h.report(outUp, true, nil, now, first, most) || h.down.Load() {
		t.Fatal("a reply to the probe did not mark the server up")
	}
	if probe, _, cause := h.admit(now); probe || cause != nil {
		t.Fatal("calls to a server back up are not admitted")
	}
	h.report(outDown, false, boom, now, first, most)
	if h.backoff != first || h.downs != 2 {
		t.Fatalf("down again: period %v, downs %d", h.backoff, h.downs)
	}
}

// TestJudge: what a call's result says of its server.
func TestJudge(t *testing.T) {
	for _, c := range []struct {
		err  error
		want outcome
	}{
		{nil, outUp},
		{&ServerError{Code: 0x107}, outUp},
		{fmt.Errorf("x: %w", ErrUnexpectedReply), outUp},
		{fmt.Errorf("x: %w", context.Canceled), outNeutral},
		{fmt.Errorf("x: %w", ErrClosed), outNeutral},
		{fmt.Errorf("x: %w", ErrTooBig), outNeutral},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), outDown},
		{fmt.Errorf("x: %w", ErrConnLost), outDown},
		{errors.New("connect to tcp 127.0.0.1:1: connection refused"), outDown},
	} {
		if got := judge(c.err); got != c.want {
			t.Errorf("judge(%v) = %d, want %d", c.err, got, c.want)
		}
	}
}
