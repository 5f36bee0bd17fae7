// Command hearth runs every Hearth component in one process on an embedded store (the default way to run Hearth).
//
// Flags and the YAML file (-config.file) are described in the README;
// `hearth -help` lists every flag.
package main

import (
	"os"

	"github.com/hearthmetrics/hearth/pkg/app"
)

func main() {
	os.Exit(app.Main(os.Args[1:], app.TargetAll))
}
