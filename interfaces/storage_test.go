package interfaces_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/interfaces"
)

func TestValidateEntry(t *testing.T) {
	key := []byte("k")
	cases := []struct {
		name    string
		entries []interfaces.Entry
		i       int
		want    string // "" for valid
	}{
		{"set", []interfaces.Entry{{Key: key, Ts: 1, Kind: interfaces.KindSet, Value: []byte("v")}}, 0, ""},
		{"delete ignores its value", []interfaces.Entry{{Key: key, Ts: 1, Kind: interfaces.KindDelete, Value: make([]byte, interfaces.MaxValueSize+1)}}, 0, ""},
		{"empty key", []interfaces.Entry{{Key: nil, Ts: 1, Kind: interfaces.KindSet}}, 0, ""},
		{"largest key and value", []interfaces.Entry{{Key: make([]byte, interfaces.MaxKeySize), Ts: 1, Kind: interfaces.KindSet, Value: make([]byte, interfaces.MaxValueSize)}}, 0, ""},
		{"equal ts", []interfaces.Entry{{Key: key, Ts: 5, Kind: interfaces.KindSet}, {Key: []byte("j"), Ts: 5, Kind: interfaces.KindSet}}, 1, ""},
		{"ts 0", []interfaces.Entry{{Key: key, Ts: 0, Kind: interfaces.KindSet}}, 0, "entry 0: ts 0"},
		{"unknown kind", []interfaces.Entry{{Key: key, Ts: 1, Kind: 9}}, 0, "entry 0: unknown kind 9"},
		{"key too long", []interfaces.Entry{{Key: make([]byte, interfaces.MaxKeySize+1), Ts: 1, Kind: interfaces.KindSet}}, 0, "key of 65536 bytes"},
		{"value too long", []interfaces.Entry{{Key: key, Ts: 1, Kind: interfaces.KindSet, Value: make([]byte, interfaces.MaxValueSize+1)}}, 0, "value of 16777217 bytes"},
		{"ts goes down", []interfaces.Entry{{Key: key, Ts: 5, Kind: interfaces.KindSet}, {Key: key, Ts: 4, Kind: interfaces.KindSet}}, 1, "entry 1: ts 4 after ts 5"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := interfaces.ValidateEntry(c.entries, c.i)
			if c.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, interfaces.ErrInvalidArgument)
			require.ErrorContains(t, err, c.want)
		})
	}
}
