// Package rulescli is `hearth rules`: it manages a tenant's rule groups
// through the rules configuration API (package ruler/configapi) with the
// tenant's API key (scope rules; read will do for list, get and diff).
// Input is Prometheus rule files (`groups: [...]`), checked as `promtool
// check rules` checks them before anything is sent; a file's namespace is
// --namespace or its name without the extension. [Run] runs one command:
// list, get, load, delete, diff, sync (make the tenant's rules equal a set
// of files, as `mimirtool rules sync` does).
package rulescli
