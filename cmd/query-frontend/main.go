// Command query-frontend runs Hearth's query frontend alone, for a
// scaled-out deployment: it serves the Prometheus API and queues queries
// for the queriers that pull them (-querier.frontend-address on queriers).
//
// Flags and the YAML file (-config.file) are described in the README;
// `query-frontend -help` lists every flag.
package main

import (
	"os"

	"github.com/hearthmetrics/hearth/pkg/app"
)

func main() {
	os.Exit(app.Main(os.Args[1:], app.TargetQueryFrontend))
}
