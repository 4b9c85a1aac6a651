#!/usr/bin/env bash
# Regenerates the Go code of the plugin protocol (host/proto -> 
# host/internal/pluginv1) with pinned generators.
#
#   scripts/generate.sh          regenerate in place
#   scripts/generate.sh --check  regenerate into a temporary directory and
#                                fail when the committed code differs
#
# protoc comes from Debian (apt-get install protobuf-compiler, 3.21.12 on
# bookworm); protoc-gen-go and protoc-gen-go-grpc are installed at the pinned
# versions below into a private directory, so the output depends on nothing
# else on the machine. The protoc version is written into the generated
# files' headers, so a different protoc fails the check: install the pinned
# one rather than regenerating with another.
set -euo pipefail
cd "$(dirname "$0")/.."

PROTOC_VERSION="3.21.12"
PROTOC_GEN_GO_VERSION="v1.36.12"
PROTOC_GEN_GO_GRPC_VERSION="v1.6.2"

PROTO_ROOT="host/proto"
OUT_PKG="host/internal/pluginv1"
MODULE="github.com/lightningdb/lightning"

check=0
case "${1:-}" in
--check) check=1 ;;
"") ;;
*)
	echo "usage: $0 [--check]" >&2
	exit 2
	;;
esac

if ! command -v protoc >/dev/null; then
	echo "== installing protoc (Debian protobuf-compiler)"
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	$sudo apt-get update -qq
	$sudo apt-get install -y -qq protobuf-compiler >/dev/null
fi
have=$(protoc --version | awk '{print $2}')
if [ "$have" != "$PROTOC_VERSION" ]; then
	echo "protoc $have found; the committed code was generated with $PROTOC_VERSION" >&2
	exit 1
fi

tools="${LIGHTNING_TOOLS_DIR:-$(go env GOPATH)/lightning-tools}/protoc-gen-go-${PROTOC_GEN_GO_VERSION}-grpc-${PROTOC_GEN_GO_GRPC_VERSION}"
if [ ! -x "$tools/protoc-gen-go" ] || [ ! -x "$tools/protoc-gen-go-grpc" ]; then
	echo "== installing protoc-gen-go ${PROTOC_GEN_GO_VERSION}, protoc-gen-go-grpc ${PROTOC_GEN_GO_GRPC_VERSION}"
	mkdir -p "$tools"
	GOBIN="$tools" GOFLAGS= go install "google.golang.org/protobuf/cmd/protoc-gen-go@${PROTOC_GEN_GO_VERSION}"
	GOBIN="$tools" GOFLAGS= go install "google.golang.org/grpc/cmd/protoc-gen-go-grpc@${PROTOC_GEN_GO_GRPC_VERSION}"
fi

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# Sorted, so the order of files (and so of the output) never varies.
mapfile -t protos < <(cd "$PROTO_ROOT" && find . -name '*.proto' | sed 's|^\./||' | LC_ALL=C sort)
PATH="$tools:$PATH" protoc \
	--proto_path="$PROTO_ROOT" \
	--go_out="$out" --go_opt=module="$MODULE" \
	--go-grpc_out="$out" --go-grpc_opt=module="$MODULE" \
	"${protos[@]}"

if [ "$check" -eq 1 ]; then
	# Compare the generated files only (doc.go is written by hand).
	stale=0
	committed=$(cd "$OUT_PKG" && ls *.pb.go 2>/dev/null | LC_ALL=C sort)
	fresh=$(cd "$out/$OUT_PKG" && ls *.pb.go | LC_ALL=C sort)
	if [ "$committed" != "$fresh" ]; then
		echo "generated files differ: committed [$committed], generated [$fresh]" >&2
		stale=1
	fi
	for f in $fresh; do
		if ! diff -u "$OUT_PKG/$f" "$out/$OUT_PKG/$f"; then
			stale=1
		fi
	done
	if [ "$stale" -ne 0 ]; then
		echo "generated protocol code is stale: run scripts/generate.sh (make generate) and commit the result" >&2
		exit 1
	fi
	echo "generated protocol code is up to date"
	exit 0
fi
rm -f "$OUT_PKG"/*.pb.go
mkdir -p "$OUT_PKG"
cp "$out/$OUT_PKG"/*.pb.go "$OUT_PKG"/
echo "generated $(ls "$OUT_PKG"/*.pb.go | wc -l) files in $OUT_PKG"
