package usage

import (
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/hearthmetrics/hearth/pkg/widecolumn"
)

// Column is a ledger row's column: a counter's name and its kept labels
// (not the tenant, which is in the row key), each part
// uvarint(len) │ bytes: name, then name/value pairs in the family's order.
// Its cell is the total, a uint64 big-endian.
type Column string

// EncodeColumn returns the column of counter name with the kept label
// pairs (name, value, name, value, ...).
func EncodeColumn(name string, pairs ...string) Column {
	n := len(name) + 1
	for _, p := range pairs {
		n += len(p) + 1
	}
	b := make([]byte, 0, n)
	b = appendPart(b, name)
	for _, p := range pairs {
		b = appendPart(b, p)
	}
	return Column(b)
}

func appendPart(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// Decode returns the counter name and the kept labels of the column.
func (c Column) Decode() (string, map[string]string, error) {
	var parts []string
	rest := []byte(c)
	for len(rest) > 0 {
		n, w := binary.Uvarint(rest)
		if w <= 0 || n > uint64(len(rest)-w) {
			return "", nil, fmt.Errorf("%w: usage column %q", widecolumn.ErrCorrupt, string(c))
		}
		parts = append(parts, string(rest[w:w+int(n)]))
		rest = rest[w+int(n):]
	}
	if len(parts) == 0 || len(parts)%2 != 1 || parts[0] == "" {
		return "", nil, fmt.Errorf("%w: usage column %q", widecolumn.ErrCorrupt, string(c))
	}
	lbls := make(map[string]string, len(parts)/2)
	for i := 1; i < len(parts); i += 2 {
		lbls[parts[i]] = parts[i+1]
	}
	return parts[0], lbls, nil
}

func encodeValue(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// decodeCells reads a row's cells; a cell that is not 8 bytes or whose
// column does not decode is skipped.
func decodeCells(cells []widecolumn.Cell) map[Column]uint64 {
	out := make(map[Column]uint64, len(cells))
	for _, c := range cells {
		if len(c.Value) != 8 {
			continue
		}
		col := Column(c.Column)
		if _, _, err := col.Decode(); err != nil {
			continue
		}
		out[col] = binary.BigEndian.Uint64(c.Value)
	}
	return out
}

// seriesKey identifies a gathered series: its name and every label (in
// the order gathered, sorted by name).
func seriesKey(name string, lbls []*dto.LabelPair) string {
	b := appendPart(nil, name)
	for _, lp := range lbls {
		b = appendPart(appendPart(b, lp.GetName()), lp.GetValue())
	}
	return string(b)
}

// seriesKeyOfMap is seriesKey of a label map.
func seriesKeyOfMap(name string, lbls map[string]string) string {
	b := appendPart(nil, name)
	for _, k := range slices.Sorted(maps.Keys(lbls)) {
		b = appendPart(appendPart(b, k), lbls[k])
	}
	return string(b)
}

// WrapRegisterer returns a Registerer that registers into reg and notes
// the counter vectors of the ledger's families, so the ledger can continue
// them from the persisted totals when it starts. Pass it to the components
// that count billing figures, before the ledger's service starts.
func (l *Ledger) WrapRegisterer(reg prometheus.Registerer) prometheus.Registerer {
	return &registerer{Registerer: reg, l: l}
}

type registerer struct {
	prometheus.Registerer
	l *Ledger
}

func (r *registerer) Register(c prometheus.Collector) error {
	if err := r.Registerer.Register(c); err != nil {
		return err
	}
	r.l.observe(c)
	return nil
}

func (r *registerer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err) // As prometheus.Registry.MustRegister: a programmer error.
		}
	}
}

func (l *Ledger) observe(c prometheus.Collector) {
	vec, ok := c.(*prometheus.CounterVec)
	if !ok {
		return
	}
	ch := make(chan *prometheus.Desc, 1)
	go func() { vec.Describe(ch); close(ch) }()
	for d := range ch {
		name := descName(d)
		if _, ok := l.families[name]; ok {
			l.regMu.Lock()
			l.vecs[name] = vec
			l.regMu.Unlock()
		}
	}
}

// descName is the metric name of d. Desc has no accessor: its String
// starts `Desc{fqName: "<name>", ...` (pinned by a test).
func descName(d *prometheus.Desc) string {
	s := d.String()
	const p = `Desc{fqName: `
	if !strings.HasPrefix(s, p) {
		return ""
	}
	q, err := strconv.QuotedPrefix(s[len(p):])
	if err != nil {
		return ""
	}
	name, err := strconv.Unquote(q)
	if err != nil {
		return ""
	}
	return name
}
