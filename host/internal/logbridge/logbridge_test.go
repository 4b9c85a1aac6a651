package logbridge

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"
)

// TestPluginHandlerWritesHclogJSON: the lines a plugin writes are the hclog
// JSON go-plugin parses: @level, @message, @timestamp, and attributes,
// groups flattened.
func TestPluginHandlerWritesHclogJSON(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(NewPluginHandler(&buf, slog.LevelDebug)).With("part", "storage").WithGroup("flush")
	l.Warn("slow flush", "ms", 250, slog.Group("file", "name", "000012.sst"))
	l.Debug("detail")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	require.Len(t, lines, 2)
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &m))
	require.Equal(t, "warn", m["@level"])
	require.Equal(t, "slow flush", m["@message"])
	require.Contains(t, m, "@timestamp")
	require.Equal(t, "storage", m["part"])
	require.Equal(t, float64(250), m["flush.ms"])
	require.Equal(t, "000012.sst", m["flush.file.name"])
	require.NoError(t, json.Unmarshal([]byte(lines[1]), &m))
	require.Equal(t, "debug", m["@level"])
}

func TestPluginHandlerLevel(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(NewPluginHandler(&buf, slog.LevelWarn))
	l.Info("dropped")
	require.Empty(t, buf.String())
	require.False(t, l.Enabled(context.Background(), slog.LevelInfo))
	require.True(t, l.Enabled(context.Background(), slog.LevelError))
}

// capture is a slog handler that keeps records.
type capture struct{ recs []slog.Record }

func (c *capture) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelDebug }
func (c *capture) Handle(_ context.Context, r slog.Record) error {
	c.recs = append(c.recs, r.Clone())
	return nil
}
func (c *capture) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *capture) WithGroup(string) slog.Handler      { return c }

func TestHclogToSlog(t *testing.T) {
	c := &capture{}
	h := Hclog(slog.New(c)).Named("lightning-memory").With("pid", 42)
	cases := []struct {
		log  func(string, ...any)
		want slog.Level
	}{
		{h.Error, slog.LevelError},
		{h.Warn, slog.LevelWarn},
		{h.Info, slog.LevelInfo},
		{h.Debug, slog.LevelDebug},
		{h.Trace, levelTrace}, // below the handler's level: dropped
	}
	for _, cs := range cases {
		cs.log("msg", "k", "v", "odd")
	}
	require.Len(t, c.recs, 4)
	for i, r := range c.recs {
		require.Equal(t, cases[i].want, r.Level)
		got := map[string]string{}
		r.Attrs(func(a slog.Attr) bool { got[a.Key] = a.Value.String(); return true })
		require.Equal(t, map[string]string{"logger": "lightning-memory", "pid": "42", "k": "v", "EXTRA_VALUE_AT_END": "odd"}, got)
	}
	require.Equal(t, hclog.Debug, h.GetLevel())
	require.True(t, h.IsDebug())
	require.False(t, h.IsTrace())
	require.Equal(t, "lightning-memory", h.Name())
	require.Equal(t, "x", h.ResetNamed("x").Name())
	h.StandardLogger(nil).Print("from the standard logger")
	require.Equal(t, "from the standard logger", c.recs[len(c.recs)-1].Message)
}
