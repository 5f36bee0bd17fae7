// Command hearth runs every Hearth component in one process on an embedded
// store (the default way to run Hearth).
//
//	hearth [flags]                 run (`hearth -help` lists every flag)
//	hearth keys <command> [flags]  manage tenants' API keys through a
//	                               running process's operator listener
//
// Flags and the YAML file (-config.file) are described in the README.
package main

import (
	"os"

	"github.com/hearthmetrics/hearth/pkg/app"
	"github.com/hearthmetrics/hearth/pkg/auth/cli"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "keys" {
		os.Exit(cli.Run(os.Args[2:], os.Stdout, os.Stderr))
	}
	os.Exit(app.Main(os.Args[1:], app.TargetAll))
}
