// Package remotewrite holds what the remote-write protocol handlers share:
// the pooled, reference-counted [Request] they decode into, reading and
// decompressing a body within the size limits ([Request.ReadBody]), the
// content-type dispatch ([Dispatch]), the [Pusher] they hand decoded
// requests to, and the one mapping from errors to HTTP status codes
// ([HTTPStatus]).
//
// Each protocol lives in its own package (rw1 for remote-write 1.0, rw2 for
// 2.0); the distributor implements [Pusher].
package remotewrite
