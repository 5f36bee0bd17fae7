// Command ruler runs Hearth's ruler alone, for a scaled-out deployment.
//
// Flags and the YAML file (-config.file) are described in the README;
// `ruler -help` lists every flag.
package main

import (
	"os"

	"github.com/hearthmetrics/hearth/pkg/app"
)

func main() {
	os.Exit(app.Main(os.Args[1:], app.TargetRuler))
}
