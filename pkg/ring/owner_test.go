package ring

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestOwner(t *testing.T) {
	cfg := testConfig(t)
	cfg.ReplicationFactor = 1
	tests := map[string]struct {
		key  uint32
		want string
		err  bool
	}{
		"the first token's owner":                 {key: 5, want: "a"},
		"past an unhealthy instance":              {key: 15, want: "c"},
		"past a JOINING instance, wrapping round": {key: 35, want: "a"},
		"a key on a token is that token's":        {key: 30, want: "c"},
	}
	r := newTestRing(t, cfg, nil,
		inst("a", Active, "", 0, 10),
		inst("b", Active, "", 2*time.Hour, 20),
		inst("c", Active, "", 0, 30),
		inst("d", Joining, "", 0, 40),
	)
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := r.Owner(tc.key)
			require.NoError(t, err)
			require.Equal(t, tc.want, got.Id)
		})
	}
	t.Run("no healthy instance is an error", func(t *testing.T) {
		r := newTestRing(t, cfg, nil, inst("b", Active, "", 2*time.Hour, 20))
		_, err := r.Owner(1)
		require.ErrorIs(t, err, ErrEmptyRing)
	})
}
