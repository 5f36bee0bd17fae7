#!/bin/sh
# Installs Alertmanager v0.31.1 into .cache/bin for the ruler's tests
# (pkg/ruler TestAlertFiresAndResolvesInAlertmanager). Later versions do not
# `go install` (their UI assets are not in the module). Debian's
# prometheus-alertmanager package is the fallback the tests also look for.
set -eu
cd "$(dirname "$0")/.."
mkdir -p .cache/bin
GOBIN="$PWD/.cache/bin" GOFLAGS=-mod=mod go install github.com/prometheus/alertmanager/cmd/alertmanager@v0.31.1
echo ".cache/bin/alertmanager installed"
