package plugin

import (
	"context"
	"os"
	"sync"
	"time"

	"google.golang.org/grpc/stats"
)

// connWatch ends the process when its host is gone: when the parent
// process changes (the host died and the plugin was re-parented), or when
// the last gRPC connection has been closed for grace without a new one.
// It is a grpc stats.Handler, to see connections come and go.
type connWatch struct {
	grace time.Duration
	exit  func(reason string)

	mu    sync.Mutex
	conns int         // open connections
	seen  bool        // a connection was opened at least once
	timer *time.Timer // pending exit after the last connection closed
}

func newConnWatch(grace time.Duration, exit func(reason string)) *connWatch {
	return &connWatch{grace: grace, exit: exit}
}

// watchParent polls the parent pid; it returns only by exiting.
func (w *connWatch) watchParent(every time.Duration) {
	ppid := os.Getppid()
	for range time.Tick(every) {
		if os.Getppid() != ppid {
			w.exit("host process exited")
			return
		}
	}
}

func (w *connWatch) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }

func (w *connWatch) HandleConn(_ context.Context, s stats.ConnStats) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch s.(type) {
	case *stats.ConnBegin:
		w.conns++
		w.seen = true
		if w.timer != nil {
			w.timer.Stop()
			w.timer = nil
		}
	case *stats.ConnEnd:
		w.conns--
		if w.conns == 0 && w.seen && w.timer == nil {
			w.timer = time.AfterFunc(w.grace, w.expire)
		}
	}
}

func (w *connWatch) expire() {
	w.mu.Lock()
	gone := w.conns == 0
	w.mu.Unlock()
	if gone {
		w.exit("host connection closed")
	}
}

func (w *connWatch) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }

func (w *connWatch) HandleRPC(context.Context, stats.RPCStats) {}
