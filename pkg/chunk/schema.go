package chunk

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/cespare/xxhash/v2"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb/chunkenc"

	"github.com/hearthmetrics/hearth/pkg/widecolumn"
)

// Sentinel errors of the schema. Callers test them with errors.Is.
var (
	// ErrKeyTooLong is returned when a row key would exceed
	// [Options.MaxRowKeyBytes] (Bigtable refuses keys over 4 KiB). The
	// wrapping error names the series.
	ErrKeyTooLong = errors.New("row key too long")
	// ErrCorrupt is returned when a stored key or cell cannot be decoded.
	// It is [widecolumn.ErrCorrupt], which the backends return too.
	ErrCorrupt = widecolumn.ErrCorrupt
	// ErrInvalidTenant is returned for an empty tenant. It is
	// [widecolumn.ErrInvalidTenant].
	ErrInvalidTenant = widecolumn.ErrInvalidTenant
	// ErrInvalidChunk is returned by WriteSeries for a chunk that cannot be
	// stored (negative or inverted time range, no data).
	ErrInvalidChunk = errors.New("invalid chunk")
)

// Row kinds: the byte after the bucket.
const (
	kindSeries   = 'S'
	kindPostings = 'P'
	kindChunks   = 'C'
	kindNames    = 'N'
)

// Key-part kinds: the byte before every label name or value in a key.
const (
	partASCII  = 0 // raw bytes, all below 0x80
	partRaw    = 1 // raw bytes, some 0x80 or above
	partHashed = 2 // the first 16 bytes of SHA-256 of the name or value
)

const (
	seriesIDLen    = 16
	chunkHashLen   = 8
	hashedPartLen  = 16
	cellFormatV1   = 1
	labelsColumn   = "l"
	maxVarintBytes = binary.MaxVarintLen64
)

// valueColumn is the column of a postings row that holds the full label
// value when the value in the key is hashed. It sorts before every series
// column.
var valueColumn = []byte{}

// SeriesID is the 128-bit identity of a label set: the first 16 bytes of the
// SHA-256 of its encoding (see docs/schema.md).
type SeriesID [seriesIDLen]byte

// seriesIDOf returns the ID of ls and appends ls's encoding to buf.
func seriesIDOf(buf []byte, ls labels.Labels) (SeriesID, []byte) {
	buf = appendLabels(buf[:0], ls)
	sum := sha256.Sum256(buf)
	var id SeriesID
	copy(id[:], sum[:seriesIDLen])
	return id, buf
}

// appendLabels appends the encoding of ls: uvarint count, then every name and
// value as uvarint length and bytes, in label order.
func appendLabels(dst []byte, ls labels.Labels) []byte {
	dst = binary.AppendUvarint(dst, uint64(ls.Len()))
	ls.Range(func(l labels.Label) {
		dst = binary.AppendUvarint(dst, uint64(len(l.Name)))
		dst = append(dst, l.Name...)
		dst = binary.AppendUvarint(dst, uint64(len(l.Value)))
		dst = append(dst, l.Value...)
	})
	return dst
}

// decodeLabels decodes what appendLabels wrote. Names must be strictly
// increasing.
func decodeLabels(b *labels.ScratchBuilder, buf []byte) (labels.Labels, error) {
	n, buf, err := readUvarint(buf)
	if err != nil {
		return labels.EmptyLabels(), err
	}
	if n > uint64(len(buf)) {
		return labels.EmptyLabels(), fmt.Errorf("%w: %d labels in %d bytes", ErrCorrupt, n, len(buf))
	}
	b.Reset()
	prev := ""
	for i := uint64(0); i < n; i++ {
		var name, value []byte
		if name, buf, err = readBytes(buf); err != nil {
			return labels.EmptyLabels(), err
		}
		if value, buf, err = readBytes(buf); err != nil {
			return labels.EmptyLabels(), err
		}
		if i > 0 && string(name) <= prev {
			return labels.EmptyLabels(), fmt.Errorf("%w: labels not sorted", ErrCorrupt)
		}
		prev = string(name)
		b.Add(prev, string(value))
	}
	if len(buf) != 0 {
		return labels.EmptyLabels(), fmt.Errorf("%w: %d trailing bytes after labels", ErrCorrupt, len(buf))
	}
	return b.Labels(), nil
}

func readUvarint(buf []byte) (uint64, []byte, error) {
	v, n := binary.Uvarint(buf)
	if n <= 0 {
		return 0, nil, fmt.Errorf("%w: bad varint", ErrCorrupt)
	}
	return v, buf[n:], nil
}

func readBytes(buf []byte) ([]byte, []byte, error) {
	n, buf, err := readUvarint(buf)
	if err != nil {
		return nil, nil, err
	}
	if n > uint64(len(buf)) {
		return nil, nil, fmt.Errorf("%w: length %d over %d remaining bytes", ErrCorrupt, n, len(buf))
	}
	return buf[:n], buf[n:], nil
}

// schema builds and parses keys; it holds the options that shape them.
type schema struct {
	bucketMillis   int64
	windowMillis   int64
	shards         int
	maxRawPart     int
	maxRowKeyBytes int
}

func newSchema(o Options) schema {
	return schema{
		bucketMillis:   o.BucketPeriod.Milliseconds(),
		windowMillis:   o.ChunkWindow.Milliseconds(),
		shards:         o.PostingsShards,
		maxRawPart:     o.MaxRawKeyPart,
		maxRowKeyBytes: o.MaxRowKeyBytes,
	}
}

// bucketOf returns the bucket holding time t (milliseconds, t >= 0).
func (s schema) bucketOf(t int64) uint32 {
	b := t / s.bucketMillis
	if b > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(b)
}

func (s schema) bucketStart(b uint32) int64 { return int64(b) * s.bucketMillis }

// bucketEnd is the last millisecond of bucket b.
func (s schema) bucketEnd(b uint32) int64 { return s.bucketStart(b) + s.bucketMillis - 1 }

func (s schema) windowOf(t int64) int64 { return t - t%s.windowMillis }

// appendTenant appends the prefix of every row of tenant: the tenant part
// of namespace widecolumn.Chunks (uvarint length and bytes).
func appendTenant(dst []byte, tenant string) []byte {
	return widecolumn.Chunks.AppendTenant(dst, tenant)
}

// appendBucket appends the common prefix of every key: the tenant, the
// bucket (namespace widecolumn.Chunks) and the row kind.
func appendBucket(dst []byte, tenant string, b uint32, kind byte) []byte {
	return append(widecolumn.Chunks.AppendBucket(dst, tenant, b), kind)
}

// appendPart appends a label name or value: kind byte, uvarint length,
// bytes; parts longer than maxRawPart are replaced by their hash.
func (s schema) appendPart(dst []byte, part string) []byte {
	if len(part) > s.maxRawPart {
		sum := sha256.Sum256([]byte(part))
		dst = append(dst, partHashed, hashedPartLen)
		return append(dst, sum[:hashedPartLen]...)
	}
	kind := byte(partASCII)
	for i := 0; i < len(part); i++ {
		if part[i] >= 0x80 {
			kind = partRaw
			break
		}
	}
	dst = append(dst, kind)
	dst = binary.AppendUvarint(dst, uint64(len(part)))
	return append(dst, part...)
}

func (s schema) hashedPart(part string) bool { return len(part) > s.maxRawPart }

func seriesKey(dst []byte, tenant string, b uint32, id SeriesID) []byte {
	dst = appendBucket(dst, tenant, b, kindSeries)
	return append(dst, id[:]...)
}

func namesKey(dst []byte, tenant string, b uint32) []byte {
	return appendBucket(dst, tenant, b, kindNames)
}

// postingsNamePrefix is the prefix of every postings row of one label name.
func (s schema) postingsNamePrefix(dst []byte, tenant string, b uint32, name string) []byte {
	dst = appendBucket(dst, tenant, b, kindPostings)
	return s.appendPart(dst, name)
}

// postingsValuePrefix is the prefix of the shards of one name and value.
func (s schema) postingsValuePrefix(dst []byte, tenant string, b uint32, name, value string) []byte {
	dst = s.postingsNamePrefix(dst, tenant, b, name)
	return s.appendPart(dst, value)
}

func (s schema) shardOf(id SeriesID) byte { return byte(int(id[0]) % s.shards) }

func chunkKey(dst []byte, tenant string, b uint32, id SeriesID, window int64) []byte {
	dst = appendBucket(dst, tenant, b, kindChunks)
	dst = append(dst, id[:]...)
	return binary.BigEndian.AppendUint64(dst, uint64(window)^(1<<63))
}

// parsedKey is a decoded row key. Name and Value hold the raw bytes for raw
// parts and the hash for hashed ones.
type parsedKey struct {
	Tenant     string
	Bucket     uint32
	Kind       byte
	SeriesID   SeriesID
	NameKind   byte
	Name       []byte
	ValueKind  byte
	Value      []byte
	Shard      byte
	WindowTime int64
}

// parseKey decodes any row key written by this schema.
func parseKey(key []byte) (parsedKey, error) {
	var p parsedKey
	tenant, bucket, rest, err := widecolumn.Chunks.ParseBucket(key)
	if err != nil {
		return p, err
	}
	if len(rest) < 1 {
		return p, fmt.Errorf("%w: key too short", ErrCorrupt)
	}
	p.Tenant, p.Bucket, p.Kind = string(tenant), bucket, rest[0]
	rest = rest[1:]
	switch p.Kind {
	case kindSeries:
		if len(rest) != seriesIDLen {
			return p, fmt.Errorf("%w: series key of %d bytes", ErrCorrupt, len(rest))
		}
		copy(p.SeriesID[:], rest)
	case kindChunks:
		if len(rest) != seriesIDLen+8 {
			return p, fmt.Errorf("%w: chunk key of %d bytes", ErrCorrupt, len(rest))
		}
		copy(p.SeriesID[:], rest)
		p.WindowTime = int64(binary.BigEndian.Uint64(rest[seriesIDLen:]) ^ (1 << 63))
	case kindNames:
		if len(rest) != 0 {
			return p, fmt.Errorf("%w: trailing bytes in names key", ErrCorrupt)
		}
	case kindPostings:
		if p.NameKind, p.Name, rest, err = readPart(rest); err != nil {
			return p, err
		}
		if p.ValueKind, p.Value, rest, err = readPart(rest); err != nil {
			return p, err
		}
		if len(rest) != 1 {
			return p, fmt.Errorf("%w: postings key without a single shard byte", ErrCorrupt)
		}
		p.Shard = rest[0]
	default:
		return p, fmt.Errorf("%w: unknown row kind %q", ErrCorrupt, p.Kind)
	}
	return p, nil
}

func readPart(buf []byte) (byte, []byte, []byte, error) {
	if len(buf) == 0 {
		return 0, nil, nil, fmt.Errorf("%w: missing key part", ErrCorrupt)
	}
	kind := buf[0]
	b, rest, err := readBytes(buf[1:])
	if err != nil {
		return 0, nil, nil, err
	}
	switch kind {
	case partASCII:
		for _, c := range b {
			if c >= 0x80 {
				return 0, nil, nil, fmt.Errorf("%w: non-ASCII byte in ASCII part", ErrCorrupt)
			}
		}
	case partRaw:
	case partHashed:
		if len(b) != hashedPartLen {
			return 0, nil, nil, fmt.Errorf("%w: hashed part of %d bytes", ErrCorrupt, len(b))
		}
	default:
		return 0, nil, nil, fmt.Errorf("%w: unknown part kind %d", ErrCorrupt, kind)
	}
	return kind, b, rest, nil
}

// Chunk is one encoded chunk of one series.
type Chunk struct {
	// MinTime and MaxTime are the chunk's first and last sample times in
	// milliseconds, both inclusive.
	MinTime, MaxTime int64
	// Encoding is the chunk's encoding (chunkenc.EncXOR, ...).
	Encoding chunkenc.Encoding
	// Data is the encoded chunk, as chunkenc.Chunk.Bytes returns it.
	Data []byte
}

// Open returns the chunk as a chunkenc.Chunk for iteration.
func (c Chunk) Open() (chunkenc.Chunk, error) {
	ch, err := chunkenc.FromData(c.Encoding, c.Data)
	if err != nil {
		return nil, fmt.Errorf("opening %s chunk [%d, %d]: %w", c.Encoding, c.MinTime, c.MaxTime, err)
	}
	return ch, nil
}

// chunkColumn is the column of a chunk cell: the chunk's content hash.
func chunkColumn(dst []byte, c Chunk) []byte {
	d := xxhash.New()
	_, _ = d.Write([]byte{byte(c.Encoding)})
	_, _ = d.Write(c.Data)
	return binary.BigEndian.AppendUint64(dst, d.Sum64())
}

// appendChunkCell appends a chunk cell's value: format version, varint
// MinTime, uvarint (MaxTime-MinTime), encoding, data.
func appendChunkCell(dst []byte, c Chunk) []byte {
	dst = append(dst, cellFormatV1)
	dst = binary.AppendVarint(dst, c.MinTime)
	dst = binary.AppendUvarint(dst, uint64(c.MaxTime-c.MinTime))
	dst = append(dst, byte(c.Encoding))
	return append(dst, c.Data...)
}

// decodeChunkCell decodes a chunk cell. The chunk's Data aliases buf.
func decodeChunkCell(buf []byte) (Chunk, error) {
	var c Chunk
	if len(buf) == 0 || buf[0] != cellFormatV1 {
		return c, fmt.Errorf("%w: unknown chunk cell format", ErrCorrupt)
	}
	buf = buf[1:]
	mint, n := binary.Varint(buf)
	if n <= 0 {
		return c, fmt.Errorf("%w: bad chunk min time", ErrCorrupt)
	}
	buf = buf[n:]
	span, buf, err := readUvarint(buf)
	if err != nil {
		return c, err
	}
	if span > math.MaxInt64 || mint > math.MaxInt64-int64(span) {
		return c, fmt.Errorf("%w: chunk time range overflows", ErrCorrupt)
	}
	if len(buf) < 2 {
		return c, fmt.Errorf("%w: chunk cell without data", ErrCorrupt)
	}
	c.MinTime, c.MaxTime = mint, mint+int64(span)
	c.Encoding = chunkenc.Encoding(buf[0])
	c.Data = buf[1:]
	return c, nil
}

// keyTooLong wraps ErrKeyTooLong with the series that produced the key.
func keyTooLong(n, limit int, ls labels.Labels) error {
	return fmt.Errorf("%w: %d bytes (limit %d) for series %.200q", ErrKeyTooLong, n, limit, ls.String())
}
