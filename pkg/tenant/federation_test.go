package tenant

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseFederated(t *testing.T) {
	for in, tc := range map[string]struct {
		want    ID
		tenants []ID
		err     string
	}{
		"a":                                      {want: "a", tenants: []ID{"a"}},
		"b|a":                                    {want: "a|b", tenants: []ID{"a", "b"}},
		"a|b|a":                                  {want: "a|b", tenants: []ID{"a", "b"}},
		"a|a":                                    {want: "a", tenants: []ID{"a"}},
		"a|":                                     {err: "tenant 2"},
		"|a":                                     {err: "tenant 1"},
		"a|..":                                   {err: `"." or ".."`},
		"a|b/c":                                  {err: "outside"},
		"":                                       {err: "no tenant ID"},
		strings.Repeat("a|", MaxFederated) + "z": {err: "more than 64 tenants"},
	} {
		t.Run(in, func(t *testing.T) {
			id, err := ParseFederated(in)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, id)
			require.Equal(t, tc.tenants, id.Tenants())
			require.Equal(t, len(tc.tenants) > 1, id.Federated())
			require.Equal(t, id, Join(id.Tenants()))
			_, err = Single(id)
			require.Equal(t, id.Federated(), err != nil)
		})
	}
	// Parse, for everything that is not a federated read, refuses them.
	_, err := Parse("a|b")
	require.ErrorIs(t, err, ErrUnsafeChar)
}
