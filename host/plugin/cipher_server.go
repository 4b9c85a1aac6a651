package plugin

import (
	"context"
	"fmt"

	"github.com/lightningdb/lightning/host/internal/pluginv1"
	"github.com/lightningdb/lightning/host/internal/wire"
	"github.com/lightningdb/lightning/interfaces"
)

// cipherServer serves the Cipher service: ciphers by handle.
type cipherServer struct {
	pluginv1.UnimplementedCipherServer
	make    func(key []byte) (interfaces.Cipher, error)
	desc    interfaces.Descriptor
	ciphers table[interfaces.Cipher]
}

func (s *cipherServer) New(_ context.Context, req *pluginv1.NewCipherRequest) (*pluginv1.NewCipherResponse, error) {
	c, err := s.make(req.Key)
	// The request's key is this process's own copy: wipe it once the
	// cipher has what it needs.
	clear(req.Key)
	if err != nil {
		return &pluginv1.NewCipherResponse{Error: wire.ErrorToProto(err)}, nil
	}
	d := c.Describe()
	if err := checkInstance(d, s.desc, c.Close); err != nil {
		return &pluginv1.NewCipherResponse{Error: wire.ErrorToProto(err)}, nil
	}
	return &pluginv1.NewCipherResponse{
		Handle:   s.ciphers.add(c),
		Desc:     wire.DescriptorToProto(d),
		Overhead: int64(c.Overhead()),
	}, nil
}

func (s *cipherServer) cipher(h uint64) (interfaces.Cipher, error) {
	c, ok := s.ciphers.get(h)
	if !ok {
		return nil, errClosed(fmt.Sprintf("cipher handle %d", h))
	}
	return c, nil
}

func (s *cipherServer) Describe(_ context.Context, req *pluginv1.CipherHandle) (*pluginv1.DescribeCipherResponse, error) {
	c, err := s.cipher(req.Handle)
	if err != nil {
		return &pluginv1.DescribeCipherResponse{Error: wire.ErrorToProto(err)}, nil
	}
	return &pluginv1.DescribeCipherResponse{Desc: wire.DescriptorToProto(c.Describe())}, nil
}

func (s *cipherServer) Seal(_ context.Context, req *pluginv1.CipherRequest) (*pluginv1.CipherResponse, error) {
	c, err := s.cipher(req.Handle)
	if err != nil {
		return &pluginv1.CipherResponse{Error: wire.ErrorToProto(err)}, nil
	}
	out, err := c.Seal(nil, req.Data, req.Ad)
	if err != nil {
		return &pluginv1.CipherResponse{Error: wire.ErrorToProto(err)}, nil
	}
	return &pluginv1.CipherResponse{Data: out}, nil
}

func (s *cipherServer) Open(_ context.Context, req *pluginv1.CipherRequest) (*pluginv1.CipherResponse, error) {
	c, err := s.cipher(req.Handle)
	if err != nil {
		return &pluginv1.CipherResponse{Error: wire.ErrorToProto(err)}, nil
	}
	out, err := c.Open(nil, req.Data, req.Ad)
	if err != nil {
		return &pluginv1.CipherResponse{Error: wire.ErrorToProto(err)}, nil
	}
	return &pluginv1.CipherResponse{Data: out}, nil
}

func (s *cipherServer) Close(_ context.Context, req *pluginv1.CipherHandle) (*pluginv1.CipherCloseResponse, error) {
	c, ok := s.ciphers.remove(req.Handle)
	if !ok {
		return &pluginv1.CipherCloseResponse{Error: wire.ErrorToProto(errClosed(fmt.Sprintf("cipher handle %d", req.Handle)))}, nil
	}
	return &pluginv1.CipherCloseResponse{Error: wire.ErrorToProto(c.Close())}, nil
}

func (s *cipherServer) closeAll() {
	for _, c := range s.ciphers.drain() {
		_ = c.Close()
	}
}
