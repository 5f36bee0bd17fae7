package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
)

// proofKeyInfo derives the key of server proofs from the cluster secret.
const proofKeyInfo = "hearth server proof v1"

// Prove returns an HMAC-SHA256 over purpose and parts (each
// length-prefixed), keyed with a key derived from the cluster secret: a
// server answers a client's random challenge with it, so the client knows
// it reached a member of the cluster (the per-call HMAC authenticates only
// the client). Nil without a cluster secret.
func (c *Cluster) Prove(purpose string, parts ...[]byte) []byte {
	if c.secret.IsZero() {
		return nil
	}
	m := hmac.New(sha256.New, c.deriveKey(proofKeyInfo))
	var buf [binary.MaxVarintLen64]byte
	for _, p := range append([][]byte{[]byte(purpose)}, parts...) {
		m.Write(buf[:binary.PutUvarint(buf[:], uint64(len(p)))])
		m.Write(p)
	}
	return m.Sum(nil)
}

// VerifyProof reports whether proof is what Prove returns for purpose and
// parts. Without a cluster secret it is true: mutual TLS authenticated the
// server in its handshake, or -auth.mode=none trusts everyone.
func (c *Cluster) VerifyProof(proof []byte, purpose string, parts ...[]byte) bool {
	if c.secret.IsZero() {
		return true
	}
	return hmac.Equal(proof, c.Prove(purpose, parts...))
}
