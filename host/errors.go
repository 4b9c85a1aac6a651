package host

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lightningdb/lightning/interfaces"
)

// Errors of package host. Errors that a part returned keep their
// interfaces sentinel across the process boundary; these say what went
// wrong with the plugin process itself.
var (
	// ErrPluginFailed is returned by every call to a part whose plugin
	// process has exited, crashed or stopped answering, and by calls whose
	// connection to the plugin broke. A Storage also reports
	// interfaces.ErrFailStopped from Apply and Flush then, so a DB over it
	// fail-stops.
	ErrPluginFailed = errors.New("lightning/host: plugin process failed")
	// ErrChecksumMismatch is returned when a plugin binary's SHA-256 is not
	// the one configured. The binary is not started.
	ErrChecksumMismatch = errors.New("lightning/host: plugin binary checksum mismatch")
	// ErrPluginStart is returned when a plugin binary could not be started
	// or did not complete the handshake within the start timeout.
	ErrPluginStart = errors.New("lightning/host: plugin did not start")
)

// transportError maps an error from the gRPC layer (not one a part
// returned) to the package's errors: a call the plugin does not serve is
// ErrUnsupported, cancellation keeps its context error, and everything
// else — a dead process, a broken connection — is ErrPluginFailed.
func (p *Plugin) transportError(op string, err error) error {
	if dead := p.exitErr(); dead != nil {
		return fmt.Errorf("lightning/host: plugin %s: %s: %w", p.name, op, dead)
	}
	st, _ := status.FromError(err)
	switch st.Code() {
	case codes.Unimplemented:
		return fmt.Errorf("lightning/host: plugin %s: %s: %s: %w", p.name, op, st.Message(), interfaces.ErrUnsupported)
	case codes.Canceled:
		return fmt.Errorf("lightning/host: plugin %s: %s: %w", p.name, op, context.Canceled)
	case codes.DeadlineExceeded:
		return fmt.Errorf("lightning/host: plugin %s: %s: %w", p.name, op, context.DeadlineExceeded)
	case codes.ResourceExhausted:
		return fmt.Errorf("lightning/host: plugin %s: %s: %s: %w", p.name, op, st.Message(), interfaces.ErrInvalidArgument)
	}
	return fmt.Errorf("lightning/host: plugin %s: %s: %w: %s", p.name, op, ErrPluginFailed, st.Message())
}

// partError wraps an error a part returned with the plugin's name and the
// operation, once. Not-found is returned bare: it is the hot path of Get,
// and carries no information worth an allocation.
func (p *Plugin) partError(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, interfaces.ErrNotFound) {
		return interfaces.ErrNotFound
	}
	return fmt.Errorf("lightning/host: plugin %s: %s: %w", p.name, op, err)
}
