package wire

import (
	"fmt"
	"slices"

	"github.com/lightningdb/lightning/host/internal/pluginv1"
	"github.com/lightningdb/lightning/interfaces"
)

// DescriptorToProto converts d to its wire form.
func DescriptorToProto(d interfaces.Descriptor) *pluginv1.Descriptor {
	caps := make([]string, len(d.Capabilities))
	for i, c := range d.Capabilities {
		caps[i] = string(c)
	}
	return &pluginv1.Descriptor{
		Kind:            string(d.Kind),
		Name:            d.Name,
		Version:         d.Version,
		ContractVersion: int32(d.ContractVersion),
		Capabilities:    caps,
	}
}

// DescriptorFromProto converts a wire descriptor; the zero Descriptor for
// nil.
func DescriptorFromProto(p *pluginv1.Descriptor) interfaces.Descriptor {
	if p == nil {
		return interfaces.Descriptor{}
	}
	var caps []interfaces.Capability
	if len(p.Capabilities) > 0 {
		caps = make([]interfaces.Capability, len(p.Capabilities))
		for i, c := range p.Capabilities {
			caps[i] = interfaces.Capability(c)
		}
	}
	return interfaces.Descriptor{
		Kind:            interfaces.Kind(p.Kind),
		Name:            p.Name,
		Version:         p.Version,
		ContractVersion: int(p.ContractVersion),
		Capabilities:    caps,
	}
}

// ContractVersion returns the contract version this build speaks for kind,
// or 0 for an unknown kind.
func ContractVersion(kind interfaces.Kind) int {
	switch kind {
	case interfaces.KindStorage:
		return interfaces.StorageContractVersion
	case interfaces.KindCache:
		return interfaces.CacheContractVersion
	case interfaces.KindCodec:
		return interfaces.CodecContractVersion
	case interfaces.KindCipher:
		return interfaces.CipherContractVersion
	}
	return 0
}

// CheckDescriptor reports an error matching interfaces.ErrIncompatible
// when d is not a part of kind that speaks this build's contract version,
// or has no name.
func CheckDescriptor(d interfaces.Descriptor, kind interfaces.Kind) error {
	switch {
	case d.Kind != kind:
		return fmt.Errorf("lightning/host: part %q describes itself as a %q part, not %q: %w",
			d.Name, d.Kind, kind, interfaces.ErrIncompatible)
	case d.Name == "":
		return fmt.Errorf("lightning/host: %s part has no name: %w", kind, interfaces.ErrIncompatible)
	case d.ContractVersion != ContractVersion(kind):
		return fmt.Errorf("lightning/host: %s part %q speaks contract v%d, this build v%d: %w",
			kind, d.Name, d.ContractVersion, ContractVersion(kind), interfaces.ErrIncompatible)
	}
	return nil
}

// SameDescriptor reports whether a and b are equal, capabilities compared
// as sets.
func SameDescriptor(a, b interfaces.Descriptor) bool {
	if a.Kind != b.Kind || a.Name != b.Name || a.Version != b.Version || a.ContractVersion != b.ContractVersion {
		return false
	}
	ac, bc := slices.Clone(a.Capabilities), slices.Clone(b.Capabilities)
	slices.Sort(ac)
	slices.Sort(bc)
	return slices.Equal(slices.Compact(ac), slices.Compact(bc))
}
