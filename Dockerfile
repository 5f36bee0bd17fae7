# syntax=docker/dockerfile:1
# One image for every Hearth target: `hearth -target=<component>` (the
# entrypoint), or the component binaries (/usr/bin/distributor, ...).
# Static binaries (CGO_ENABLED=0) on distroless, run as a non-root user.
#
#   docker build -t hearth --build-arg VERSION=$(git describe --tags --always) .
#   docker run -p 9009:9009 hearth -server.internal-listen-address=0.0.0.0:9010
#
# deploy/dockerfile_test.go checks every COPY source exists, every package
# the binaries need is copied, and every cmd/ binary is built.

ARG GO_VERSION=1.26.8

FROM golang:${GO_VERSION} AS build
WORKDIR /src
# Dependencies first: this layer is cached until go.mod or go.sum change.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY cmd ./cmd
COPY pkg ./pkg
COPY proto ./proto
ARG VERSION=0.0.0-dev
ARG REVISION=unknown
ARG BRANCH=unknown
ARG TARGETOS=linux
ARG TARGETARCH=amd64
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} go build -trimpath \
      -ldflags "-s -w -X github.com/prometheus/common/version.Version=${VERSION} -X github.com/prometheus/common/version.Revision=${REVISION} -X github.com/prometheus/common/version.Branch=${BRANCH}" \
      -o /out/ ./cmd/hearth ./cmd/distributor ./cmd/ingester ./cmd/querier ./cmd/query-frontend ./cmd/ruler ./cmd/hearth-check \
 && mkdir -p /data \
 && chown 10001:10001 /data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ /usr/bin/
# The working directory holds ./data, -storage.dir's default; the chart
# mounts a volume at /data and passes -storage.dir=/data.
COPY --from=build --chown=10001:10001 /data /data
WORKDIR /data
USER 10001:10001
EXPOSE 9009 9010 9095 7946
ENTRYPOINT ["/usr/bin/hearth"]
