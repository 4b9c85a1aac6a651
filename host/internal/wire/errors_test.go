package wire

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/interfaces"
)

func errorsIsCorrupt(err error) bool { return errors.Is(err, interfaces.ErrCorrupt) }

// TestErrorsCrossTheWire: every sentinel, wrapped as a part would wrap it,
// comes back matching the same sentinel with the same message.
func TestErrorsCrossTheWire(t *testing.T) {
	sentinels := []error{
		interfaces.ErrNotFound, interfaces.ErrClosed, interfaces.ErrInvalidArgument, interfaces.ErrUnsupported,
		interfaces.ErrCorrupt, interfaces.ErrDecrypt, interfaces.ErrKeyMismatch, interfaces.ErrIncompatible,
		interfaces.ErrFailStopped, context.Canceled, context.DeadlineExceeded,
	}
	for _, s := range sentinels {
		t.Run(s.Error(), func(t *testing.T) {
			err := fmt.Errorf("lightning/x: table 12: %w", s)
			got := ErrorFromProto(ErrorToProto(err))
			require.ErrorIs(t, got, s)
			require.Equal(t, err.Error(), got.Error())
			for _, other := range sentinels {
				if other != s && !(s == interfaces.ErrDecrypt && other == interfaces.ErrCorrupt) {
					require.NotErrorIs(t, got, other)
				}
			}
		})
	}
	require.Nil(t, ErrorToProto(nil))
	require.NoError(t, ErrorFromProto(nil))

	unknown := ErrorFromProto(ErrorToProto(errors.New("disk on fire")))
	require.EqualError(t, unknown, "disk on fire")
	require.Equal(t, interfaces.CodeUnknown, interfaces.CodeOf(unknown))
}

func TestCorruptionCrossesTheWire(t *testing.T) {
	cases := []struct {
		name      string
		err       error
		wantFile  string
		wantOff   int64
		wantCause error
	}{
		{"bare", interfaces.Corruptf("000012.sst", 4096, "checksum mismatch"), "000012.sst", 4096, nil},
		{"no location", &interfaces.CorruptionError{Offset: -1, Reason: "key order"}, "", -1, nil},
		{"wrapped with a cause", fmt.Errorf("lsm: table 12: %w",
			interfaces.Corruptf("000012.sst", 8192, "open block: %w", interfaces.ErrDecrypt)), "000012.sst", 8192, interfaces.ErrDecrypt},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := ErrorFromProto(ErrorToProto(c.err))
			require.Equal(t, c.err.Error(), got.Error())
			require.ErrorIs(t, got, interfaces.ErrCorrupt)
			require.True(t, interfaces.IsCorruption(got))
			var ce *interfaces.CorruptionError
			require.ErrorAs(t, got, &ce)
			require.Equal(t, c.wantFile, ce.File)
			require.Equal(t, c.wantOff, ce.Offset)
			if c.wantCause != nil {
				require.ErrorIs(t, got, c.wantCause)
			} else {
				require.NoError(t, ce.Err)
			}
		})
	}
}

func TestDescriptors(t *testing.T) {
	d := interfaces.Descriptor{
		Kind: interfaces.KindStorage, Name: "memory", Version: "1.0.0",
		ContractVersion: interfaces.StorageContractVersion,
		Capabilities:    []interfaces.Capability{interfaces.CapDurable, interfaces.CapCheck},
	}
	require.Equal(t, d, DescriptorFromProto(DescriptorToProto(d)))
	require.Equal(t, interfaces.Descriptor{}, DescriptorFromProto(nil))

	swapped := d
	swapped.Capabilities = []interfaces.Capability{interfaces.CapCheck, interfaces.CapDurable, interfaces.CapCheck}
	require.True(t, SameDescriptor(d, swapped))
	for name, mut := range map[string]func(*interfaces.Descriptor){
		"kind":       func(x *interfaces.Descriptor) { x.Kind = interfaces.KindCache },
		"name":       func(x *interfaces.Descriptor) { x.Name = "lsm" },
		"version":    func(x *interfaces.Descriptor) { x.Version = "2" },
		"contract":   func(x *interfaces.Descriptor) { x.ContractVersion = 2 },
		"capability": func(x *interfaces.Descriptor) { x.Capabilities = x.Capabilities[:1] },
	} {
		other := d
		other.Capabilities = append([]interfaces.Capability(nil), d.Capabilities...)
		mut(&other)
		require.False(t, SameDescriptor(d, other), name)
	}

	require.NoError(t, CheckDescriptor(d, interfaces.KindStorage))
	for name, mut := range map[string]func(*interfaces.Descriptor){
		"wrong kind":     func(x *interfaces.Descriptor) { x.Kind = interfaces.KindCodec },
		"no name":        func(x *interfaces.Descriptor) { x.Name = "" },
		"other contract": func(x *interfaces.Descriptor) { x.ContractVersion = 99 },
	} {
		other := d
		mut(&other)
		require.ErrorIs(t, CheckDescriptor(other, interfaces.KindStorage), interfaces.ErrIncompatible, name)
	}
	for _, k := range []interfaces.Kind{interfaces.KindStorage, interfaces.KindCache, interfaces.KindCodec, interfaces.KindCipher} {
		require.Equal(t, 1, ContractVersion(k))
	}
	require.Zero(t, ContractVersion("telemetry"))
}
