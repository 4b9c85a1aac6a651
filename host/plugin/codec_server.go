package plugin

import (
	"context"
	"fmt"

	"github.com/lightningdb/lightning/host/internal/pluginv1"
	"github.com/lightningdb/lightning/host/internal/wire"
	"github.com/lightningdb/lightning/interfaces"
)

// codecServer serves the Codec service from the plugin's one codec.
type codecServer struct {
	pluginv1.UnimplementedCodecServer
	c interfaces.Codec
}

func (s *codecServer) Describe(context.Context, *pluginv1.CodecDescribeRequest) (*pluginv1.CodecDescription, error) {
	return &pluginv1.CodecDescription{Desc: wire.DescriptorToProto(s.c.Describe()), Id: uint32(s.c.ID())}, nil
}

func (s *codecServer) Encode(_ context.Context, req *pluginv1.CodecRequest) (*pluginv1.CodecResponse, error) {
	if len(req.Src) > interfaces.MaxDecodedLen {
		return &pluginv1.CodecResponse{Error: wire.ErrorToProto(fmt.Errorf(
			"lightning/plugin: encode %d bytes, more than %d: %w", len(req.Src), interfaces.MaxDecodedLen, interfaces.ErrInvalidArgument))}, nil
	}
	out, err := s.c.Encode(nil, req.Src)
	if err != nil {
		return &pluginv1.CodecResponse{Error: wire.ErrorToProto(err)}, nil
	}
	return &pluginv1.CodecResponse{Data: out}, nil
}

func (s *codecServer) Decode(_ context.Context, req *pluginv1.CodecRequest) (*pluginv1.CodecResponse, error) {
	out, err := s.c.Decode(nil, req.Src)
	if err != nil {
		return &pluginv1.CodecResponse{Error: wire.ErrorToProto(err)}, nil
	}
	return &pluginv1.CodecResponse{Data: out}, nil
}
