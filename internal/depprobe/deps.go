package depprobe

import (
	_ "github.com/prometheus/prometheus/tsdb"
	_ "github.com/prometheus/prometheus/promql"
	_ "github.com/prometheus/prometheus/promql/promqltest"
	_ "github.com/prometheus/prometheus/storage/remote"
	_ "github.com/prometheus/prometheus/web/api/v1"
	_ "github.com/prometheus/prometheus/prompb"
	_ "github.com/prometheus/client_golang/api/prometheus/v1"
	_ "github.com/hashicorp/memberlist"
	_ "github.com/gogo/protobuf/proto"
	_ "github.com/golang/snappy"
	_ "google.golang.org/grpc"
	_ "github.com/stretchr/testify/require"
	_ "go.uber.org/goleak"
	_ "gopkg.in/yaml.v3"
	_ "cloud.google.com/go/bigtable"
	_ "cloud.google.com/go/bigtable/bttest"
	_ "github.com/cockroachdb/pebble"
	_ "golang.org/x/time/rate"
	_ "github.com/klauspost/compress/s2"
	_ "golang.org/x/sync/errgroup"
)
