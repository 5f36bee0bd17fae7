// Package app wires Hearth's components into one process: it owns the
// top-level [Config] (flags and the YAML file), the HTTP and gRPC servers,
// and builds the services each -target needs, in dependency order.
//
// Components never import each other; app is the only place that knows
// them all. The binaries in cmd/ call [Main].
package app
