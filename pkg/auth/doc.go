// Package auth authenticates Hearth's callers: tenants on the public HTTP
// API with per-tenant API keys, operators on the internal listener with the
// operator credential, and components on internal gRPC with a shared cluster
// secret or mutual TLS.
//
// # API keys
//
// A key is the string
//
//	hearth_<id>_<secret>
//
// where id is 10 random bytes and secret 32 random bytes from crypto/rand,
// both in lower-case unpadded base32 (16 and 52 characters). The id is in
// clear so a key can be found without knowing its tenant; the secret is
// shown once, when the key is created ([Keys.Create]), and stored only as
// its SHA-256 hash. A plain fast hash is enough: slow password hashes
// (bcrypt, argon2) exist to make guessing low-entropy human passwords
// expensive, and a 256-bit random secret cannot be guessed at any speed, so
// a SHA-256 preimage search is the only attack left. A fast hash also lets
// every request be checked without a cache of verified secrets. Hashes are
// compared with crypto/subtle in constant time. Whether a key id exists can
// be told from timing (a cached miss answers sooner than a hash check);
// ids are not secret, they appear in logs and listings.
//
// A [Key] holds a key's record (tenant, id, name, [Scope], creation,
// optional expiry, optional revocation) and never its secret; the secret
// travels as a [Secret], whose String, Format, MarshalJSON, MarshalYAML and
// LogValue print "<secret>". Only [Secret.Reveal] returns it.
//
// # Storage
//
// [Keys] keeps records in the wide-column table ([Backend], the subset of
// widecolumn.Backend it needs) so every distributor and querier sees the
// same keys, in the two namespaces package widecolumn reserves for them
// (widecolumn.APIKeys and widecolumn.APIKeyTenants, under the byte 0x00
// no tenant's chunk rows can start with):
//
//	key row:    0x00 "auth/key/" id                     (id: 16 bytes)
//	            cell "k" → JSON record (tenant, name, scopes, created,
//	                       expires, SHA-256 of the key)
//	            cell "r" → revocation time, int64 big-endian Unix ns
//	tenant row: 0x00 "auth/tenant/" uvarint(len) tenant
//	            one empty cell per key id of the tenant
//
// The record cell is written once; revoking sets the "r" cell, so a
// revocation never races with another writer of the record. Deleting a
// tenant's keys ([Keys.DeleteTenant]) drops each key row its tenant row
// lists, then the tenant row: the namespace's rule, which
// widecolumn.DeleteTenant also applies when a tenant is deleted from the
// whole table.
//
// # Authenticating requests
//
// [Authenticator.Middleware] binds a public request to a tenant according
// to -auth.mode: api-keys (the default) accepts Basic auth (user = tenant,
// password = key) and "Authorization: Bearer <key>"; trust-header takes
// X-Scope-OrgID from an authenticating gateway; none puts every request in
// one tenant (-auth.none-tenant), for single-tenant development.
// A missing or bad key gets 401 with a WWW-Authenticate challenge, a valid
// key without the scope or of another tenant 403. Failures are counted in
// hearth_auth_failures_total{reason}. A failure is charged to the pair
// (source, claimed tenant or key id), where a source is an IPv4 address or
// an IPv6 /64; a pair that fails too often gets 429 instead of 401 until its
// token bucket refills. A credential that verifies is never refused, so a
// neighbour spraying bad keys from a shared address (a NAT, a proxy) does
// not lock a tenant out. Because key ids are the client's to choose, store
// reads of ids not known to exist are bounded separately: a key id seen in
// the store (a scan of the key rows every minute, plus every key found) is
// read when not cached; any other id costs one token of its source's lookup
// budget (-auth.failure-rate-limit, -auth.failure-burst), and past it the
// request gets 429 without a read. The operator listener has a limiter of
// its own, and checks the operator token before it.
//
// Key records are cached by id, found and not found alike. The
// authenticator's service re-reads every cached record each -auth.cache-ttl
// (5s) in one batched read, so a hot request path does no store read and a
// revocation made by another process takes effect within one TTL plus a
// read; an entry not refreshed for two TTLs (the store is unreachable) is
// read again on use, and a request fails with 503 rather than trust it.
// Misses are read once however many requests ask (singleflight).
//
// # Operators and components
//
// [LoadOrCreateOperatorToken] creates the operator credential on first
// start, mode 0600, and [Authenticator.Operator] guards the internal
// listener with it. [NewAdminHandler] serves key and tenant management
// there; package auth/cli is its command-line client.
//
// [Cluster] authenticates gRPC between components. Mutual TLS
// (-auth.grpc-tls-*) is the production mode: a peer without a certificate
// of the cluster's CA fails the handshake. The shared-secret mode
// (-auth.cluster-secret-file, for development) never sends the secret:
// each call carries an HMAC-SHA256, keyed with a key derived from the
// secret by HKDF, over the server address dialled, the method, the tenant,
// a timestamp and a nonce; a server checks it in a tap handle, before the
// message is read, and refuses a stale timestamp (over 30s from its
// clock), another server's address, or a nonce it has seen. The gossip
// key ([Cluster.GossipKey]) is derived from the same secret.
package auth
