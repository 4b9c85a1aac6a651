package interfaces_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/interfaces"
)

// sentinels lists every sentinel with its code. Adding a sentinel without
// adding it here makes TestCodesAreDense fail.
var sentinels = []struct {
	code interfaces.ErrorCode
	err  error
}{
	{interfaces.CodeNotFound, interfaces.ErrNotFound},
	{interfaces.CodeClosed, interfaces.ErrClosed},
	{interfaces.CodeInvalidArgument, interfaces.ErrInvalidArgument},
	{interfaces.CodeUnsupported, interfaces.ErrUnsupported},
	{interfaces.CodeCorrupt, interfaces.ErrCorrupt},
	{interfaces.CodeDecrypt, interfaces.ErrDecrypt},
	{interfaces.CodeKeyMismatch, interfaces.ErrKeyMismatch},
	{interfaces.CodeIncompatible, interfaces.ErrIncompatible},
	{interfaces.CodeFailStopped, interfaces.ErrFailStopped},
	{interfaces.CodeCanceled, context.Canceled},
	{interfaces.CodeDeadlineExceeded, context.DeadlineExceeded},
}

func TestCodesAreDense(t *testing.T) {
	// Codes 2..N each have a sentinel, and the code after the last has
	// none: a new sentinel must get the next number and a row above.
	for i, s := range sentinels {
		require.Equal(t, interfaces.ErrorCode(i+2), s.code)
	}
	next := interfaces.ErrorCode(len(sentinels) + 2)
	require.Nil(t, next.Sentinel(), "code %d has a sentinel missing from this test", next)
}

func TestErrorCodeRoundTrip(t *testing.T) {
	for _, s := range sentinels {
		t.Run(s.code.String(), func(t *testing.T) {
			require.Equal(t, s.code, interfaces.CodeOf(s.err))
			require.Equal(t, s.err, s.code.Sentinel())
			require.Equal(t, s.err.Error(), s.code.String())

			wrapped := fmt.Errorf("lightning/lsm: table 000012.sst: %w", s.err)
			require.Equal(t, s.code, interfaces.CodeOf(wrapped))
			doubly := fmt.Errorf("lightning: get: %w", wrapped)
			require.Equal(t, s.code, interfaces.CodeOf(doubly))

			// Across the boundary: the message survives and errors.Is
			// matches the same sentinel, and no other.
			rebuilt := interfaces.ErrorFromCode(interfaces.CodeOf(doubly), doubly.Error(), "", 0)
			require.Error(t, rebuilt)
			require.Equal(t, doubly.Error(), rebuilt.Error())
			require.ErrorIs(t, rebuilt, s.err)
			for _, other := range sentinels {
				if other.code != s.code {
					require.NotErrorIs(t, rebuilt, other.err)
				}
			}
			require.Equal(t, s.code, interfaces.CodeOf(rebuilt))
			// And it keeps matching when the receiving side wraps it again.
			require.ErrorIs(t, fmt.Errorf("host: %w", rebuilt), s.err)
			require.Equal(t, s.code == interfaces.CodeCorrupt || s.code == interfaces.CodeDecrypt,
				interfaces.IsCorruption(rebuilt))
		})
	}
}

func TestErrorCodeOKAndUnknown(t *testing.T) {
	require.Equal(t, interfaces.CodeOK, interfaces.CodeOf(nil))
	require.NoError(t, interfaces.ErrorFromCode(interfaces.CodeOK, "ignored", "f", 1))
	require.Nil(t, interfaces.CodeOK.Sentinel())
	require.Equal(t, "ok", interfaces.CodeOK.String())

	plain := errors.New("disk on fire")
	require.Equal(t, interfaces.CodeUnknown, interfaces.CodeOf(plain))
	require.Equal(t, interfaces.CodeUnknown, interfaces.CodeOf(io.ErrUnexpectedEOF))
	require.Nil(t, interfaces.CodeUnknown.Sentinel())
	require.Equal(t, "unknown", interfaces.CodeUnknown.String())

	rebuilt := interfaces.ErrorFromCode(interfaces.CodeUnknown, plain.Error(), "", 0)
	require.EqualError(t, rebuilt, "disk on fire")
	require.Equal(t, interfaces.CodeUnknown, interfaces.CodeOf(rebuilt))
	for _, s := range sentinels {
		require.NotErrorIs(t, rebuilt, s.err)
	}
}

func TestErrorCodeFromTheFuture(t *testing.T) {
	// A newer peer may send a code this build does not know: it must
	// degrade to an unknown error that keeps its message.
	future := interfaces.ErrorCode(1000)
	require.Nil(t, future.Sentinel())
	require.Equal(t, "code(1000)", future.String())
	err := interfaces.ErrorFromCode(future, "lightning: something new", "", 0)
	require.EqualError(t, err, "lightning: something new")
	require.Equal(t, interfaces.CodeUnknown, interfaces.CodeOf(err))
	for _, s := range sentinels {
		require.NotErrorIs(t, err, s.err)
	}
}

func TestCodeOfPrefersTableOrder(t *testing.T) {
	// An error matching several sentinels reports the first in the table.
	both := errors.Join(interfaces.ErrCorrupt, interfaces.ErrNotFound)
	require.Equal(t, interfaces.CodeNotFound, interfaces.CodeOf(both))

	// A corruption caused by failed authentication is reported as
	// corruption: that is what the caller acts on.
	ce := &interfaces.CorruptionError{File: "000003.sst", Offset: 10, Reason: "open block", Err: interfaces.ErrDecrypt}
	require.Equal(t, interfaces.CodeCorrupt, interfaces.CodeOf(ce))
	require.Equal(t, interfaces.CodeCorrupt, interfaces.CodeOf(fmt.Errorf("read: %w", ce)))
}

func TestErrorFromCodeCorruptionKeepsLocation(t *testing.T) {
	err := interfaces.ErrorFromCode(interfaces.CodeCorrupt, "checksum mismatch", "000007.sst", 4096)
	var ce *interfaces.CorruptionError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, "000007.sst", ce.File)
	require.Equal(t, int64(4096), ce.Offset)
	require.Equal(t, "checksum mismatch", ce.Reason)
	require.ErrorIs(t, err, interfaces.ErrCorrupt)
	require.True(t, interfaces.IsCorruption(err))
	require.Equal(t, interfaces.CodeCorrupt, interfaces.CodeOf(err))

	// An offset alone is a location too.
	err = interfaces.ErrorFromCode(interfaces.CodeCorrupt, "bad page", "", 12)
	require.ErrorAs(t, err, &ce)
	require.Equal(t, int64(12), ce.Offset)

	// Without a location it is a plain remote error, still corruption.
	err = interfaces.ErrorFromCode(interfaces.CodeCorrupt, "lightning: corrupt data: x", "", 0)
	require.False(t, errors.As(err, &ce))
	require.EqualError(t, err, "lightning: corrupt data: x")
	require.True(t, interfaces.IsCorruption(err))
}

func TestCorruptionErrorMessages(t *testing.T) {
	tests := []struct {
		name string
		err  *interfaces.CorruptionError
		want string
	}{
		{"no file, no offset", &interfaces.CorruptionError{Offset: -1, Reason: "bad"},
			"lightning: corrupt data: bad"},
		{"offset only", &interfaces.CorruptionError{Offset: 0, Reason: "bad"},
			"lightning: corrupt data at offset 0: bad"},
		{"file only", &interfaces.CorruptionError{File: "MANIFEST", Offset: -1, Reason: "bad"},
			"lightning: corrupt data in MANIFEST: bad"},
		{"file and offset", &interfaces.CorruptionError{File: "000001.log", Offset: 512, Reason: "checksum mismatch"},
			"lightning: corrupt data in 000001.log at offset 512: checksum mismatch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.EqualError(t, tt.err, tt.want)
		})
	}
}

func TestCorruptionErrorIsAndUnwrap(t *testing.T) {
	bare := &interfaces.CorruptionError{File: "f", Offset: 1, Reason: "r"}
	require.ErrorIs(t, bare, interfaces.ErrCorrupt)
	require.NotErrorIs(t, bare, interfaces.ErrDecrypt)
	require.NotErrorIs(t, bare, interfaces.ErrNotFound)
	require.Nil(t, bare.Unwrap())

	caused := &interfaces.CorruptionError{File: "f", Offset: 1, Reason: "r", Err: interfaces.ErrDecrypt}
	require.ErrorIs(t, caused, interfaces.ErrCorrupt)
	require.ErrorIs(t, caused, interfaces.ErrDecrypt)
	require.Equal(t, interfaces.ErrDecrypt, caused.Unwrap())

	// errors.As finds it through layers of wrapping.
	var ce *interfaces.CorruptionError
	require.ErrorAs(t, fmt.Errorf("a: %w", fmt.Errorf("b: %w", caused)), &ce)
	require.Same(t, caused, ce)
}

func TestIsCorruption(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"ErrCorrupt", interfaces.ErrCorrupt, true},
		{"wrapped ErrCorrupt", fmt.Errorf("x: %w", interfaces.ErrCorrupt), true},
		{"ErrDecrypt", interfaces.ErrDecrypt, true},
		{"wrapped ErrDecrypt", fmt.Errorf("x: %w", interfaces.ErrDecrypt), true},
		{"CorruptionError", &interfaces.CorruptionError{Offset: -1, Reason: "r"}, true},
		{"ErrNotFound", interfaces.ErrNotFound, false},
		{"ErrKeyMismatch", interfaces.ErrKeyMismatch, false},
		{"plain", errors.New("lightning: corrupt data"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, interfaces.IsCorruption(tt.err))
		})
	}
}

func TestCorruptf(t *testing.T) {
	cause := errors.New("snappy: corrupt input")
	ce := interfaces.Corruptf("000004.sst", 8192, "decode block %d: %w", 3, cause)
	require.Equal(t, "000004.sst", ce.File)
	require.Equal(t, int64(8192), ce.Offset)
	require.Equal(t, "decode block 3: snappy: corrupt input", ce.Reason)
	require.Same(t, cause, ce.Err)
	require.ErrorIs(t, ce, cause)
	require.ErrorIs(t, ce, interfaces.ErrCorrupt)
	require.EqualError(t, ce, "lightning: corrupt data in 000004.sst at offset 8192: decode block 3: snappy: corrupt input")

	// A sentinel cause stays visible to errors.Is.
	ce = interfaces.Corruptf("", -1, "open: %w", interfaces.ErrDecrypt)
	require.ErrorIs(t, ce, interfaces.ErrDecrypt)
	require.Equal(t, interfaces.CodeCorrupt, interfaces.CodeOf(ce))

	// Without %w there is no cause.
	ce = interfaces.Corruptf("f", -1, "key order: %x after %x", []byte{2}, []byte{3})
	require.Equal(t, "key order: 02 after 03", ce.Reason)
	require.Nil(t, ce.Err)
	require.ErrorIs(t, ce, interfaces.ErrCorrupt)
}
