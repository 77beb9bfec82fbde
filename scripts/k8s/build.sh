#!/usr/bin/env bash
# Builds the Kubernetes 1.20 pieces the e2e tier needs from Debian's `kubernetes` source package,
# offline except for Debian's apt archive, into a cache keyed by the source package's version:
#
#   $WEFT_E2E_CACHE/<version>/bin/   kube-apiserver kube-controller-manager kube-scheduler kubelet
#                                    kube-proxy e2e.test ginkgo agnhost kubectl (Debian's 1.20 client)
#
# A second run finds bin/.complete and does nothing (CI reuses the machine's cache from a fresh clone).
# The host's apt configuration is never touched: the deb-src entry lives in a private sources file,
# with private lists, passed through apt's -o options.
#
# What Debian's Go 1.19 needs (the tree targets Go 1.15):
# - GOPATH mode (GO111MODULE=off) with the tree at $GOPATH/src/k8s.io/kubernetes, still using vendor/
#   (`-mod=vendor` refuses the tree's go.mod);
# - the generated code the tarball lacks: the openapi definitions (openapi-gen, upstream's arguments
#   from Makefile.generated_files) and the e2e bindata (go-bindata, hack/generate-bindata.sh);
# - the vendored reflect2 1.0.1 crashes on Go >= 1.18: replaced by Debian's 1.0.2
#   (golang-github-modern-go-reflect2-dev).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/k8s/common.sh
. "$HERE/common.sh"

log() { printf '[build %s] %s\n' "$(date +%T)" "$*"; }
START=$(date +%s)

mkdir -p "$WEFT_E2E_CACHE"
apt_private_update

VERSION=$(k8s_source_version)
CACHE="$WEFT_E2E_CACHE/$VERSION"
BIN="$CACHE/bin"
if [ -f "$BIN/.complete" ]; then
	log "cache hit: $CACHE ($(du -sh "$CACHE" | cut -f1)); nothing to build"
	exit 0
fi
log "building Kubernetes $VERSION into $CACHE"
mkdir -p "$CACHE" "$BIN"
exec 9>"$CACHE/.build.lock"
flock -n 9 || { log "another build holds $CACHE/.build.lock"; exit 1; }

GOPATH_DIR="$CACHE/gopath"
TREE="$GOPATH_DIR/src/k8s.io/kubernetes"
export GOPATH="$GOPATH_DIR" GO111MODULE=off GOFLAGS= GOCACHE="$CACHE/gocache" CGO_ENABLED=0 GOPROXY=off
export PATH="$GOPATH_DIR/bin:$PATH"

# 1. The source, unpacked (and Debian's patches applied) by apt-get source itself.
if [ ! -f "$TREE/.unpacked" ]; then
	log "apt-get source kubernetes=$VERSION"
	rm -rf "$CACHE/download" "$TREE"
	mkdir -p "$CACHE/download" "$(dirname "$TREE")"
	(cd "$CACHE/download" && apt_private source "kubernetes=$VERSION" >"$CACHE/download/apt-source.log" 2>&1) ||
		{ tail -20 "$CACHE/download/apt-source.log"; exit 1; }
	src=$(find "$CACHE/download" -maxdepth 1 -mindepth 1 -type d -name 'kubernetes-*' | head -1)
	[ -n "$src" ] || { log "apt-get source left no tree"; exit 1; }
	mv "$src" "$TREE"
	rm -f "$CACHE/download"/*.tar.* "$CACHE/download"/*.dsc
	touch "$TREE/.unpacked"
fi
cd "$TREE"

# 2. reflect2 1.0.2 from Debian over the vendored 1.0.1.
REFLECT2=/usr/share/gocode/src/github.com/modern-go/reflect2
[ -f "$REFLECT2/reflect2.go" ] || { log "missing $REFLECT2: apt-get install golang-github-modern-go-reflect2-dev (make e2e-deps)"; exit 1; }
if ! cmp -s "$REFLECT2/reflect2.go" vendor/github.com/modern-go/reflect2/reflect2.go; then
	log "replacing vendor/github.com/modern-go/reflect2 with Debian's $(dpkg-query -W -f='${Version}' golang-github-modern-go-reflect2-dev)"
	rm -rf vendor/github.com/modern-go/reflect2
	mkdir -p vendor/github.com/modern-go/reflect2
	find "$REFLECT2" -maxdepth 1 -type f -name '*.go' ! -name '*_test.go' -exec cp {} vendor/github.com/modern-go/reflect2/ \;
	# 1.0.2 ships .s stubs for go:linkname bodies; copy them too.
	find "$REFLECT2" -maxdepth 1 -type f -name '*.s' -exec cp {} vendor/github.com/modern-go/reflect2/ \; || true
fi

# 3. Generated code: go-bindata (hack/generate-bindata.sh) and openapi-gen (Makefile.generated_files).
if [ ! -f test/e2e/generated/bindata.go ]; then
	log "go-bindata"
	go install k8s.io/kubernetes/vendor/github.com/go-bindata/go-bindata/go-bindata
	go-bindata -nometadata -o test/e2e/generated/bindata.go.tmp -pkg generated \
		-ignore .jpg -ignore .png -ignore .md -ignore 'BUILD(\.bazel)?' \
		"test/conformance/testdata/..." \
		"test/e2e/testing-manifests/..." \
		"test/e2e_node/testing-manifests/..." \
		"test/images/..." \
		"test/fixtures/..."
	gofmt -s -w test/e2e/generated/bindata.go.tmp
	mv test/e2e/generated/bindata.go.tmp test/e2e/generated/bindata.go
fi
if [ ! -f pkg/generated/openapi/zz_generated.openapi.go ]; then
	log "openapi-gen"
	go install k8s.io/kubernetes/vendor/k8s.io/kube-openapi/cmd/openapi-gen
	# The directories upstream's make finds: every Go dir of the tree (staging named as vendor/),
	# files carrying a `// +k8s:` tag, those with +k8s:openapi-gen=, minus code-generator and
	# sample-apiserver.
	dirs=$(find -H . \( -not \( \( -path './_*' -o -path './.*' -o -path ./vendor \) -prune \) \) -type f -name '*.go' |
		sed 's|^./staging/src|vendor|; s|^\./||' |
		xargs grep --color=never -l '^// *+k8s:' |
		grep -v -e '^vendor/k8s.io/code-generator/' -e '^vendor/k8s.io/sample-apiserver/' |
		xargs grep --color=never -l '+k8s:openapi-gen=' |
		xargs -n1 dirname | LC_ALL=C sort -u |
		sed 's|^|k8s.io/kubernetes/|' | paste -sd, -)
	mkdir -p "$CACHE/reports"
	openapi-gen --logtostderr -v 1 \
		-i "$dirs" \
		-p k8s.io/kubernetes/pkg/generated/openapi \
		-O zz_generated.openapi \
		-h vendor/k8s.io/code-generator/hack/boilerplate.go.txt \
		-r "$CACHE/reports/KUBE_violations.report" >"$CACHE/reports/openapi-gen.log" 2>&1 ||
		{ tail -30 "$CACHE/reports/openapi-gen.log"; exit 1; }
	[ -f pkg/generated/openapi/zz_generated.openapi.go ] || { log "openapi-gen wrote nothing"; exit 1; }
fi

# 4. The binaries (static, CGO off as Debian builds them), version stamped as upstream's release.
GIT_VERSION=$(sed -n 's/^\([0-9.]*\)+really\([0-9.]*\).*/v\2/p' <<<"$VERSION")
[ -n "$GIT_VERSION" ] || GIT_VERSION="v${VERSION%%-*}"
MAJOR=$(cut -d. -f1 <<<"${GIT_VERSION#v}")
MINOR=$(cut -d. -f2 <<<"${GIT_VERSION#v}")
BUILD_DATE=$(date -u -d "@$(stat -c %Y "$TREE/.unpacked")" +%Y-%m-%dT%H:%M:%SZ)
ldflags=""
for pkg in k8s.io/kubernetes/vendor/k8s.io/component-base/version k8s.io/kubernetes/vendor/k8s.io/client-go/pkg/version; do
	ldflags+=" -X '$pkg.gitVersion=$GIT_VERSION' -X '$pkg.gitMajor=$MAJOR' -X '$pkg.gitMinor=$MINOR'"
	ldflags+=" -X '$pkg.gitTreeState=clean' -X '$pkg.gitCommit=debian-$VERSION' -X '$pkg.buildDate=$BUILD_DATE'"
done
ldflags+=" -s -w"

log "go build: control plane, kubelet, kube-proxy, ginkgo, agnhost ($(nproc) cores)"
go build -trimpath -ldflags "$ldflags" -o "$BIN/" \
	k8s.io/kubernetes/cmd/kube-apiserver \
	k8s.io/kubernetes/cmd/kube-controller-manager \
	k8s.io/kubernetes/cmd/kube-scheduler \
	k8s.io/kubernetes/cmd/kubelet \
	k8s.io/kubernetes/cmd/kube-proxy \
	k8s.io/kubernetes/vendor/github.com/onsi/ginkgo/ginkgo \
	k8s.io/kubernetes/test/images/agnhost
log "go test -c: e2e.test"
go test -c -trimpath -ldflags "$ldflags" -o "$BIN/e2e.test" k8s.io/kubernetes/test/e2e

# 5. A kubectl of the same minor: Debian's kubernetes-client .deb, unpacked (not installed).
if [ ! -x "$CACHE/kubernetes-client/usr/bin/kubectl" ]; then
	log "kubernetes-client .deb"
	mkdir -p "$CACHE/debs"
	(cd "$CACHE/debs" && apt_private download "kubernetes-client=$VERSION" >/dev/null 2>&1) ||
		(cd "$CACHE/debs" && apt_private download kubernetes-client)
	rm -rf "$CACHE/kubernetes-client"
	dpkg-deb -x "$(ls "$CACHE"/debs/kubernetes-client_*.deb | head -1)" "$CACHE/kubernetes-client"
fi
ln -sf ../kubernetes-client/usr/bin/kubectl "$BIN/kubectl"

"$BIN/kube-apiserver" --version
"$BIN/kubectl" version --client --short 2>/dev/null || "$BIN/kubectl" version --client
date -u +%FT%TZ >"$BIN/.complete"
# The Go build cache (1.8 GiB) only speeds up a rebuild of this same version, which the stamp above
# makes unnecessary; the tree stays (the agnhost image takes files from it).
if [ -z "${WEFT_E2E_KEEP_GOCACHE:-}" ]; then
	rm -rf "$GOCACHE"
fi
log "done in $(($(date +%s) - START)) s; cache $(du -sh "$CACHE" | cut -f1), binaries $(du -shL "$BIN" | cut -f1)"
