// Package errorids holds the test that keeps docs/errors.md and the code in
// agreement: every error ID a tenant can get, err-hearth-<name>, written
// literally where the error is made, has its section in docs/errors.md,
// and every section there has an error in the code.
package errorids
