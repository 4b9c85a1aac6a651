// Package pluginv1 is the generated Go code of the Lightning plugin
// protocol, version 1 (host/proto/lightning/plugin/v1). Do not edit the
// .pb.go files: change the .proto files and run scripts/generate.sh
// (make generate). Only package host and host/plugin use it.
package pluginv1
