package host

import (
	"fmt"

	"github.com/lightningdb/lightning/host/internal/pluginv1"
	"github.com/lightningdb/lightning/host/internal/wire"
	"github.com/lightningdb/lightning/interfaces"
)

// RemoteCodec is an interfaces.Codec served by a plugin process. Its
// descriptor and ID are read once, when it is made.
type RemoteCodec struct {
	p    *Plugin
	c    pluginv1.CodecClient
	desc interfaces.Descriptor
	id   interfaces.CodecID
}

var _ interfaces.Codec = (*RemoteCodec)(nil)

// Codec returns the plugin's codec.
func (p *Plugin) Codec() (*RemoteCodec, error) {
	if _, err := p.part(interfaces.KindCodec); err != nil {
		return nil, err
	}
	ctx, cancel := p.callCtx()
	defer cancel()
	resp, err := p.codec.Describe(ctx, &pluginv1.CodecDescribeRequest{})
	if err != nil {
		return nil, p.transportError("Codec", err)
	}
	c := &RemoteCodec{p: p, c: p.codec, desc: wire.DescriptorFromProto(resp.Desc)}
	if err := wire.CheckDescriptor(c.desc, interfaces.KindCodec); err != nil {
		return nil, fmt.Errorf("lightning/host: plugin %s: %w", p.name, err)
	}
	if resp.Id > 255 {
		return nil, fmt.Errorf("lightning/host: plugin %s: codec ID %d is not a byte: %w", p.name, resp.Id, interfaces.ErrIncompatible)
	}
	c.id = interfaces.CodecID(resp.Id)
	return c, nil
}

// Describe returns the codec's descriptor.
func (c *RemoteCodec) Describe() interfaces.Descriptor { return c.desc }

// ID returns the codec's ID.
func (c *RemoteCodec) ID() interfaces.CodecID { return c.id }

// Encode appends the plugin's encoding of src to dst.
func (c *RemoteCodec) Encode(dst, src []byte) ([]byte, error) {
	if len(src) > interfaces.MaxDecodedLen {
		return dst, fmt.Errorf("lightning/host: plugin %s: encode %d bytes, more than %d: %w",
			c.p.name, len(src), interfaces.MaxDecodedLen, interfaces.ErrInvalidArgument)
	}
	return c.call("Encode", c.c.Encode, dst, src)
}

// Decode appends the plugin's decoding of src to dst. With an error it
// returns dst as given.
func (c *RemoteCodec) Decode(dst, src []byte) ([]byte, error) {
	return c.call("Decode", c.c.Decode, dst, src)
}

func (c *RemoteCodec) call(op string, fn codecCall, dst, src []byte) ([]byte, error) {
	ctx, cancel := c.p.callCtx()
	defer cancel()
	resp, err := fn(ctx, &pluginv1.CodecRequest{Src: src})
	if err != nil {
		return dst, c.p.transportError(op, err)
	}
	if err := wire.ErrorFromProto(resp.Error); err != nil {
		return dst, c.p.partError(op, err)
	}
	if len(resp.Data) > interfaces.MaxDecodedLen+interfaces.MaxDecodedLen/8 {
		return dst, fmt.Errorf("lightning/host: plugin %s: %s returned %d bytes: %w", c.p.name, op, len(resp.Data), interfaces.ErrCorrupt)
	}
	return append(dst, resp.Data...), nil
}
