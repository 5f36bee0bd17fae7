package frontendpb

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzUnmarshal: no input panics either side's decoder, and what decodes
// re-encodes to something that decodes to the same message.
func FuzzUnmarshal(f *testing.F) {
	req := &FrontendMessage{Id: 7, Tenant: "team-a", Request: &HTTPRequest{Method: "GET", Url: "/prometheus/api/v1/query?query=up", Headers: []Header{{Key: "Accept", Values: []string{"application/json"}}}}}
	resp := &QuerierMessage{Id: 7, Response: &HTTPResponse{Code: 200, Body: []byte(`{"status":"success"}`)}}
	for _, m := range []interface{ Marshal() ([]byte, error) }{req, resp, &QuerierMessage{QuerierId: "q1"}, &FrontendMessage{Id: 7, Cancel: true}} {
		b, err := m.Marshal()
		require.NoError(f, err)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var fm FrontendMessage
		if fm.Unmarshal(data) == nil {
			b, err := fm.Marshal()
			require.NoError(t, err)
			var again FrontendMessage
			require.NoError(t, again.Unmarshal(b))
			require.Equal(t, fm.String(), again.String())
		}
		var qm QuerierMessage
		if qm.Unmarshal(data) == nil {
			b, err := qm.Marshal()
			require.NoError(t, err)
			var again QuerierMessage
			require.NoError(t, again.Unmarshal(b))
			require.Equal(t, qm.String(), again.String())
		}
	})
}
