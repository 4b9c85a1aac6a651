package host

import (
	"context"

	"google.golang.org/grpc"

	"github.com/lightningdb/lightning/host/internal/pluginv1"
)

// codecCall and cipherCall are the shapes of the Encode/Decode and
// Seal/Open RPCs, so one helper serves both of each pair.
type (
	codecCall  func(ctx context.Context, in *pluginv1.CodecRequest, opts ...grpc.CallOption) (*pluginv1.CodecResponse, error)
	cipherCall func(ctx context.Context, in *pluginv1.CipherRequest, opts ...grpc.CallOption) (*pluginv1.CipherResponse, error)
)
