// Command hearth runs every Hearth component in one process on an embedded
// store (the default way to run Hearth).
//
//	hearth [flags]                 run (`hearth -help` lists every flag)
//	hearth keys <command> [flags]  manage tenants' API keys through a
//	                               running process's operator listener
//	hearth rules <command> [flags] manage a tenant's rule groups through
//	                               the rules API
//	hearth version                 print the version (as -version)
//
// Flags and the YAML file (-config.file) are described in the README.
package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/hearthmetrics/hearth/pkg/app"
	"github.com/hearthmetrics/hearth/pkg/auth/cli"
	"github.com/hearthmetrics/hearth/pkg/ruler/rulescli"
)

const usage = `Usage:
  hearth [flags]                 run every component in this process ("hearth -help" lists the flags)
  hearth keys <command> [flags]  manage tenants' API keys ("hearth keys help" lists the commands)
  hearth rules <command> [flags] manage a tenant's rules ("hearth rules help" lists the commands)
  hearth version                 print the version
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, func(args []string) int { return app.Main(args, app.TargetAll) }))
}

// run dispatches on the first word of args: a subcommand, or flags for
// serve. A word that is neither is an error, never a server started with
// the word ignored.
func run(args []string, stdout, stderr io.Writer, serve func([]string) int) int {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return serve(args)
	}
	switch args[0] {
	case "keys":
		return cli.Run(args[1:], stdout, stderr)
	case "rules":
		return rulescli.Run(args[1:], stdout, stderr, os.Getenv)
	case "version":
		if len(args) > 1 {
			fmt.Fprintf(stderr, "hearth version: unexpected arguments %q\n", args[1:])
			return 2
		}
		fmt.Fprintln(stdout, app.Version("hearth"))
		return 0
	case "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "hearth: unknown command %q\n\n%s", args[0], usage)
	return 2
}
