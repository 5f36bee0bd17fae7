package querier

import (
	"strings"

	v1 "github.com/prometheus/prometheus/web/api/v1"

	"github.com/hearthmetrics/hearth/proto/resultpb"
)

// resultCodec answers a query frontend's query and query_range requests
// in proto/resultpb's binary form when it asks for it in Accept, instead
// of JSON the frontend would parse again. Everything else (other
// endpoints, responses with stats, errors) stays JSON.
type resultCodec struct{}

var _ v1.Codec = resultCodec{}

func (resultCodec) ContentType() v1.MIMEType {
	typ, sub, _ := strings.Cut(resultpb.ContentType, "/")
	return v1.MIMEType{Type: typ, SubType: sub}
}

func (resultCodec) CanEncode(resp *v1.Response) bool {
	d, ok := resp.Data.(*v1.QueryData)
	return ok && d.Stats == nil && d.Cost == nil && resultpb.CanEncode(d.Result)
}

func (resultCodec) Encode(resp *v1.Response) ([]byte, error) {
	d := resp.Data.(*v1.QueryData) // CanEncode said so.
	return resultpb.Append(nil, d.Result, resp.Warnings, resp.Infos)
}
