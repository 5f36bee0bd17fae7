// Package cli is the `hearth keys` command: it manages tenants' API keys
// through the operator API (auth.NewAdminHandler) on a running Hearth's
// internal listener, authenticated with the operator token file. It never
// opens the store itself: the running server holds its files.
//
//	hearth keys create --tenant T --scope write,read [--name N] [--expires 720h]
//	hearth keys list   --tenant T [--json]
//	hearth keys revoke --tenant T --id ID
//	hearth keys rotate --tenant T --id ID [--grace 1h] [--expires 720h]
//	hearth keys delete-tenant --tenant T --yes
//
// Every subcommand takes --addr (default http://127.0.0.1:9010, the
// default -server.internal-listen-address) and --token-file (default
// ./data/operator-token, the default -storage.dir's). create and rotate
// print the new key alone on stdout, so it can be captured, and describe
// it on stderr.
package cli
