package host

import (
	"fmt"
	"sync/atomic"

	"github.com/lightningdb/lightning/host/internal/pluginv1"
	"github.com/lightningdb/lightning/host/internal/wire"
	"github.com/lightningdb/lightning/interfaces"
)

// RemoteCipher is an interfaces.Cipher served by a plugin process. Its
// descriptor and overhead are read once, when it is made.
type RemoteCipher struct {
	p        *Plugin
	c        pluginv1.CipherClient
	handle   uint64
	desc     interfaces.Descriptor
	overhead int
	closed   atomic.Bool
}

var _ interfaces.Cipher = (*RemoteCipher)(nil)

// NewCipher makes a cipher holding key in the plugin. The key crosses the
// process boundary over the plugin's mutually authenticated TLS
// connection.
func (p *Plugin) NewCipher(key []byte) (*RemoteCipher, error) {
	if _, err := p.part(interfaces.KindCipher); err != nil {
		return nil, err
	}
	ctx, cancel := p.callCtx()
	defer cancel()
	resp, err := p.cipher.New(ctx, &pluginv1.NewCipherRequest{Key: key})
	if err != nil {
		return nil, p.transportError("NewCipher", err)
	}
	if err := wire.ErrorFromProto(resp.Error); err != nil {
		return nil, p.partError("NewCipher", err)
	}
	c := &RemoteCipher{p: p, c: p.cipher, handle: resp.Handle, desc: wire.DescriptorFromProto(resp.Desc), overhead: int(resp.Overhead)}
	if err := wire.CheckDescriptor(c.desc, interfaces.KindCipher); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("lightning/host: plugin %s: %w", p.name, err)
	}
	return c, nil
}

// Describe returns the cipher's descriptor.
func (c *RemoteCipher) Describe() interfaces.Descriptor { return c.desc }

// Overhead returns the bytes Seal adds.
func (c *RemoteCipher) Overhead() int { return c.overhead }

// Seal appends the sealed form of plaintext to dst.
func (c *RemoteCipher) Seal(dst, plaintext, ad []byte) ([]byte, error) {
	return c.call("Seal", c.c.Seal, dst, plaintext, ad)
}

// Open appends the plaintext of sealed to dst; with an error it returns
// dst as given, never unauthenticated bytes.
func (c *RemoteCipher) Open(dst, sealed, ad []byte) ([]byte, error) {
	return c.call("Open", c.c.Open, dst, sealed, ad)
}

func (c *RemoteCipher) call(op string, fn cipherCall, dst, data, ad []byte) ([]byte, error) {
	if c.closed.Load() {
		return dst, fmt.Errorf("lightning/host: plugin %s: %s: %w", c.p.name, op, interfaces.ErrClosed)
	}
	ctx, cancel := c.p.callCtx()
	defer cancel()
	resp, err := fn(ctx, &pluginv1.CipherRequest{Handle: c.handle, Data: data, Ad: ad})
	if err != nil {
		return dst, c.p.transportError(op, err)
	}
	if err := wire.ErrorFromProto(resp.Error); err != nil {
		return dst, c.p.partError(op, err)
	}
	return append(dst, resp.Data...), nil
}

// Close drops the cipher in the plugin. Seal and Open return ErrClosed
// afterwards.
func (c *RemoteCipher) Close() error {
	if !c.closed.CompareAndSwap(false, true) {
		return nil
	}
	ctx, cancel := c.p.callCtx()
	defer cancel()
	resp, err := c.c.Close(ctx, &pluginv1.CipherHandle{Handle: c.handle})
	if err != nil {
		return c.p.transportError("Close", err)
	}
	return c.p.partError("Close", wire.ErrorFromProto(resp.Error))
}
