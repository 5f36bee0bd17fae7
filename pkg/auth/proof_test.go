package auth

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestServerProof(t *testing.T) {
	a, err := NewCluster(Config{ClusterSecret: NewSecret("one secret")}, ClusterOptions{})
	require.NoError(t, err)
	b, err := NewCluster(Config{ClusterSecret: NewSecret("another secret")}, ClusterOptions{})
	require.NoError(t, err)
	open, err := NewCluster(Config{}, ClusterOptions{AllowOpen: true})
	require.NoError(t, err)
	challenge := []byte("0123456789abcdef")

	proof := a.Prove("frontend", []byte("q1"), challenge)
	require.True(t, a.VerifyProof(proof, "frontend", []byte("q1"), challenge))
	for name, ok := range map[string]bool{
		"another secret":    b.VerifyProof(proof, "frontend", []byte("q1"), challenge),
		"another purpose":   a.VerifyProof(proof, "ingester", []byte("q1"), challenge),
		"another client":    a.VerifyProof(proof, "frontend", []byte("q2"), challenge),
		"another challenge": a.VerifyProof(proof, "frontend", []byte("q1"), []byte("fedcba9876543210")),
		"no proof":          a.VerifyProof(nil, "frontend", []byte("q1"), challenge),
		"parts regrouped":   a.VerifyProof(proof, "frontend", append([]byte("q1"), challenge...)),
	} {
		require.False(t, ok, name)
	}
	require.Nil(t, open.Prove("frontend", challenge))
	require.True(t, open.VerifyProof(nil, "frontend", challenge), "no secret: TLS or nothing authenticates servers")
}
