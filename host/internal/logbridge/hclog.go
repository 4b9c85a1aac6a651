package logbridge

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"strings"

	"github.com/hashicorp/go-hclog"
)

// Hclog returns an hclog.Logger that sends every record to l, at the
// matching slog level (hclog's Trace becomes slog Debug-4). go-plugin
// gives it the lines a plugin writes to stderr, already parsed when they
// are hclog JSON.
func Hclog(l *slog.Logger) hclog.Logger {
	return &slogHclog{l: l}
}

type slogHclog struct {
	l       *slog.Logger
	name    string
	implied []any
}

// levelTrace is hclog's Trace on slog's scale: below Debug.
const levelTrace = slog.LevelDebug - 4

func toSlog(level hclog.Level) slog.Level {
	switch level {
	case hclog.Trace:
		return levelTrace
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	}
	return slog.LevelInfo
}

func (s *slogHclog) Log(level hclog.Level, msg string, args ...any) {
	if level == hclog.Off || level == hclog.NoLevel && !s.l.Enabled(context.Background(), slog.LevelInfo) {
		return
	}
	lv := toSlog(level)
	if !s.l.Enabled(context.Background(), lv) {
		return
	}
	attrs := make([]any, 0, len(s.implied)+len(args)+2)
	if s.name != "" {
		attrs = append(attrs, slog.String("logger", s.name))
	}
	attrs = append(attrs, s.implied...)
	attrs = append(attrs, pairs(args)...)
	s.l.Log(context.Background(), lv, msg, attrs...)
}

// pairs turns hclog's alternating key/value arguments into slog
// arguments, tolerating an odd count and non-string keys as hclog does.
func pairs(args []any) []any {
	out := make([]any, 0, len(args))
	for i := 0; i < len(args); i += 2 {
		key, ok := args[i].(string)
		if !ok {
			key = fmt.Sprint(args[i])
		}
		if i+1 == len(args) {
			out = append(out, slog.Any("EXTRA_VALUE_AT_END", args[i]))
			break
		}
		out = append(out, slog.Any(key, args[i+1]))
	}
	return out
}

func (s *slogHclog) Trace(msg string, args ...any) { s.Log(hclog.Trace, msg, args...) }
func (s *slogHclog) Debug(msg string, args ...any) { s.Log(hclog.Debug, msg, args...) }
func (s *slogHclog) Info(msg string, args ...any)  { s.Log(hclog.Info, msg, args...) }
func (s *slogHclog) Warn(msg string, args ...any)  { s.Log(hclog.Warn, msg, args...) }
func (s *slogHclog) Error(msg string, args ...any) { s.Log(hclog.Error, msg, args...) }

func (s *slogHclog) enabled(l hclog.Level) bool {
	return s.l.Enabled(context.Background(), toSlog(l))
}

func (s *slogHclog) IsTrace() bool { return s.enabled(hclog.Trace) }
func (s *slogHclog) IsDebug() bool { return s.enabled(hclog.Debug) }
func (s *slogHclog) IsInfo() bool  { return s.enabled(hclog.Info) }
func (s *slogHclog) IsWarn() bool  { return s.enabled(hclog.Warn) }
func (s *slogHclog) IsError() bool { return s.enabled(hclog.Error) }

func (s *slogHclog) ImpliedArgs() []any { return s.implied }

func (s *slogHclog) With(args ...any) hclog.Logger {
	c := *s
	c.implied = append(append([]any(nil), s.implied...), pairs(args)...)
	return &c
}

func (s *slogHclog) Name() string { return s.name }

func (s *slogHclog) Named(name string) hclog.Logger {
	c := *s
	if c.name != "" {
		c.name += "." + name
	} else {
		c.name = name
	}
	return &c
}

func (s *slogHclog) ResetNamed(name string) hclog.Logger {
	c := *s
	c.name = name
	return &c
}

// SetLevel does nothing: the level is the slog handler's to decide.
func (s *slogHclog) SetLevel(hclog.Level) {}

func (s *slogHclog) GetLevel() hclog.Level {
	for _, l := range []hclog.Level{hclog.Trace, hclog.Debug, hclog.Info, hclog.Warn, hclog.Error} {
		if s.enabled(l) {
			return l
		}
	}
	return hclog.Off
}

func (s *slogHclog) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(s.StandardWriter(opts), "", 0)
}

func (s *slogHclog) StandardWriter(*hclog.StandardLoggerOptions) io.Writer {
	return writerFunc(func(p []byte) (int, error) {
		s.Info(strings.TrimRight(string(p), "\n"))
		return len(p), nil
	})
}

type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
