package chunk

import "github.com/hearthmetrics/hearth/pkg/widecolumn"

// Backend is the wide-column table the store keeps its rows in, all in
// namespace [widecolumn.Chunks]. It is widecolumn.Backend under the name
// the store's callers know.
type Backend = widecolumn.Backend
