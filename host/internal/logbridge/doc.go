// Package logbridge connects go-plugin's logger (hclog) with log/slog in
// both directions: on the host, plugin logs parsed by go-plugin become
// records of the host's *slog.Logger (Hclog); in a plugin, a *slog.Logger
// writes the hclog JSON lines that go-plugin parses on the host side
// (NewPluginHandler).
//
// Both are safe for concurrent use.
package logbridge
