package logbridge

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"
)

// NewPluginHandler returns a slog.Handler for code running inside a plugin
// process: it writes each record as one hclog JSON line to w (the plugin's
// real stderr), which go-plugin on the host parses back into a record of
// the host's logger at the same level, with the same attributes. Groups
// become dotted key prefixes.
func NewPluginHandler(w io.Writer, level slog.Leveler) slog.Handler {
	return &pluginHandler{
		shared: &sharedLogger{l: hclog.New(&hclog.LoggerOptions{
			Output:     w,
			JSONFormat: true,
			Level:      hclog.Trace,
		})},
		level: level,
	}
}

type sharedLogger struct {
	mu sync.Mutex // serialises lines, so that they never interleave
	l  hclog.Logger
}

type pluginHandler struct {
	shared *sharedLogger
	level  slog.Leveler
	attrs  []any  // flattened key/value pairs from WithAttrs
	prefix string // group prefix from WithGroup, ending in "."
}

func (h *pluginHandler) Enabled(_ context.Context, l slog.Level) bool {
	min := slog.LevelInfo
	if h.level != nil {
		min = h.level.Level()
	}
	return l >= min
}

func toHclog(l slog.Level) hclog.Level {
	switch {
	case l < slog.LevelDebug:
		return hclog.Trace
	case l < slog.LevelInfo:
		return hclog.Debug
	case l < slog.LevelWarn:
		return hclog.Info
	case l < slog.LevelError:
		return hclog.Warn
	}
	return hclog.Error
}

func (h *pluginHandler) Handle(_ context.Context, r slog.Record) error {
	args := make([]any, 0, len(h.attrs)+2*r.NumAttrs())
	args = append(args, h.attrs...)
	r.Attrs(func(a slog.Attr) bool {
		args = flatten(args, h.prefix, a)
		return true
	})
	h.shared.mu.Lock()
	h.shared.l.Log(toHclog(r.Level), r.Message, args...)
	h.shared.mu.Unlock()
	return nil
}

// flatten appends a as key/value pairs, expanding groups into dotted keys.
func flatten(dst []any, prefix string, a slog.Attr) []any {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return dst
	}
	if a.Value.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p += a.Key + "."
		}
		for _, g := range a.Value.Group() {
			dst = flatten(dst, p, g)
		}
		return dst
	}
	return append(dst, prefix+a.Key, a.Value.Any())
}

func (h *pluginHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append([]any(nil), h.attrs...)
	for _, a := range attrs {
		c.attrs = flatten(c.attrs, h.prefix, a)
	}
	return &c
}

func (h *pluginHandler) WithGroup(name string) slog.Handler {
	if strings.TrimSpace(name) == "" {
		return h
	}
	c := *h
	c.prefix = h.prefix + name + "."
	return &c
}
