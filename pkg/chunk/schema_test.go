package chunk

import (
	"encoding/hex"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/stretchr/testify/require"
	"rsc.io/binaryregexp"
)

func testSchema() schema { return newSchema(DefaultOptions()) }

func TestPostingsKeyRoundTrip(t *testing.T) {
	s := testSchema()
	long := strings.Repeat("v", 300)
	cases := map[string]struct {
		tenant, name, value string
		kind                byte
		hashed              bool
	}{
		"plain":                {tenant: "t", name: "job", value: "api", kind: partASCII},
		"empty value":          {tenant: "t", name: "job", value: "", kind: partASCII},
		"spaces and any bytes": {tenant: "t 1", name: "a b\x00", value: "x\x00\xff\n", kind: partRaw},
		"UTF-8":                {tenant: "t", name: "path", value: "/ünïcode", kind: partRaw},
		"long value hashed":    {tenant: "t", name: "job", value: long, kind: partHashed, hashed: true},
		"exactly at the limit": {tenant: "t", name: "job", value: long[:256], kind: partASCII},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			key := s.postingsValuePrefix(nil, tc.tenant, 19000, tc.name, tc.value)
			key = append(key, 7)
			p, err := parseKey(key)
			require.NoError(t, err)
			require.Equal(t, tc.tenant, p.Tenant)
			require.Equal(t, uint32(19000), p.Bucket)
			require.Equal(t, byte(kindPostings), p.Kind)
			require.Equal(t, tc.name, string(p.Name))
			require.Equal(t, tc.kind, p.ValueKind)
			require.Equal(t, byte(7), p.Shard)
			if tc.hashed {
				require.Len(t, p.Value, hashedPartLen)
			} else {
				require.Equal(t, tc.value, string(p.Value))
			}
		})
	}
}

func TestSeriesAndChunkKeys(t *testing.T) {
	ls := labels.FromStrings("__name__", "up", "a b", "x\x00y", "empty", "")
	id, enc := seriesIDOf(nil, ls)
	var b labels.ScratchBuilder
	got, err := decodeLabels(&b, enc)
	require.NoError(t, err)
	require.Equal(t, ls, got)

	p, err := parseKey(seriesKey(nil, "tenant", 5, id))
	require.NoError(t, err)
	require.Equal(t, SeriesID(id), p.SeriesID)
	require.Equal(t, byte(kindSeries), p.Kind)

	for _, w := range []int64{0, 7200000, 1609459200000} {
		p, err = parseKey(chunkKey(nil, "tenant", 5, id, w))
		require.NoError(t, err)
		require.Equal(t, w, p.WindowTime)
	}
	// Keys sort by window.
	require.Less(t, string(chunkKey(nil, "t", 1, id, 7200000)), string(chunkKey(nil, "t", 1, id, 14400000)))
	// A tenant's prefix is not the prefix of a longer tenant's keys.
	require.False(t, strings.HasPrefix(string(seriesKey(nil, "ab", 1, id)), string(appendTenant(nil, "a"))))

	id2, _ := seriesIDOf(nil, labels.FromStrings("__name__", "up", "a b", "x\x00y", "empty", "", "z", "1"))
	require.NotEqual(t, id, id2)
}

func TestChunkCell(t *testing.T) {
	c := Chunk{MinTime: 1000, MaxTime: 5000, Encoding: chunkenc.EncXOR, Data: []byte{1, 2, 3}}
	got, err := decodeChunkCell(appendChunkCell(nil, c))
	require.NoError(t, err)
	require.Equal(t, c, got)
	other := c
	other.Data = []byte{1, 2, 4}
	require.NotEqual(t, chunkColumn(nil, c), chunkColumn(nil, other))
	for name, buf := range map[string][]byte{"empty": nil, "bad version": {9, 0, 0, 1, 1}, "no data": {cellFormatV1, 2, 2, 1}} {
		t.Run(name, func(t *testing.T) {
			_, err := decodeChunkCell(buf)
			require.ErrorIs(t, err, ErrCorrupt)
		})
	}
}

func TestParseKeyErrors(t *testing.T) {
	cases := map[string][]byte{
		"empty":                     nil,
		"empty tenant":              {0, 0, 0, 0, 1, 'S'},
		"short":                     {1, 't', 0, 0},
		"unknown kind":              {1, 't', 0, 0, 0, 1, 'Z'},
		"short series":              {1, 't', 0, 0, 0, 1, 'S', 1, 2},
		"postings no shard":         {1, 't', 0, 0, 0, 1, 'P', 0, 1, 'a', 0, 1, 'b'},
		"ASCII part with high byte": {1, 't', 0, 0, 0, 1, 'P', 0, 1, 0xff, 0, 1, 'b', 0},
		"bad part kind":             {1, 't', 0, 0, 0, 1, 'P', 9, 1, 'a', 0, 1, 'b', 0},
	}
	for name, key := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := parseKey(key)
			require.ErrorIs(t, err, ErrCorrupt)
		})
	}
}

func TestPostingsRegex(t *testing.T) {
	s := testSchema()
	prefix := s.postingsNamePrefix(nil, "t\x00\xff", 3, "job")
	cases := map[string]struct {
		re     string
		values map[string]bool // value → must pass
		ok     bool
	}{
		"prefix regex":                   {re: "api.*", ok: true, values: map[string]bool{"api": true, "api-2": true, "db": false}},
		"non-ASCII values always pass":   {re: "x", ok: true, values: map[string]bool{"ü": true}},
		"hashed values always pass":      {re: "x", ok: true, values: map[string]bool{strings.Repeat("q", 300): true}},
		"newlines":                       {re: "a.b", ok: true, values: map[string]bool{"a\nb": true}},
		"case-insensitive":               {re: "(?i)API", ok: true, values: map[string]bool{"api": true}},
		"anchors are not pushed":         {re: "^api$"},
		"word boundaries are not pushed": {re: `\bapi`},
		"invalid":                        {re: "("},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			pat, ok := postingsRegex(prefix, tc.re)
			require.Equal(t, tc.ok, ok)
			if !ok {
				return
			}
			re, err := binaryregexp.Compile("^(?:" + pat + ")$")
			require.NoError(t, err)
			for v, want := range tc.values {
				key := append(s.postingsValuePrefix(nil, "t\x00\xff", 3, "job", v), 5)
				require.Equal(t, want, re.MatchString(string(key)), "value %q", v)
			}
		})
	}
}

func TestOptionsValidate(t *testing.T) {
	require.NoError(t, DefaultOptions().Validate())
	o := Options{ChunkWindow: 7 * 60 * 60 * 1e9, BucketPeriod: 24 * 60 * 60 * 1e9, IndexCacheBytes: -1, CacheGrace: -1}
	err := o.Validate()
	for _, want := range []string{"must divide", "postings shards", "max raw key part", "max row key", "cache sizes", "cache grace", "query parallelism"} {
		require.ErrorContains(t, err, want)
	}
}

func FuzzParseKey(f *testing.F) {
	s := testSchema()
	id, _ := seriesIDOf(nil, labels.FromStrings("a", "b"))
	f.Add(seriesKey(nil, "t", 1, id))
	f.Add(chunkKey(nil, "t", 1, id, 7200000))
	f.Add(namesKey(nil, "t", 1))
	f.Add(append(s.postingsValuePrefix(nil, "t", 1, "job", "api"), 3))
	f.Add(append(s.postingsValuePrefix(nil, "t", 1, "job", strings.Repeat("x", 400)), 3))
	f.Fuzz(func(t *testing.T, key []byte) {
		p, err := parseKey(key)
		if err != nil {
			return
		}
		// What parses re-encodes to a key that parses the same (varints may
		// be non-minimal in the input).
		var again []byte
		switch p.Kind {
		case kindSeries:
			again = seriesKey(nil, p.Tenant, p.Bucket, p.SeriesID)
		case kindChunks:
			again = chunkKey(nil, p.Tenant, p.Bucket, p.SeriesID, p.WindowTime)
		case kindNames:
			again = namesKey(nil, p.Tenant, p.Bucket)
		default:
			return // postings parts may be hashed; not re-encodable
		}
		p2, err := parseKey(again)
		require.NoError(t, err)
		require.Equal(t, p, p2)
	})
}

func FuzzDecodeLabels(f *testing.F) {
	_, enc := seriesIDOf(nil, labels.FromStrings("__name__", "up", "job", "a\x00b"))
	f.Add(enc)
	f.Add([]byte{0})
	f.Add([]byte{5, 1})
	f.Fuzz(func(t *testing.T, buf []byte) {
		var b labels.ScratchBuilder
		ls, err := decodeLabels(&b, buf)
		if err != nil {
			return
		}
		ls2, err := decodeLabels(&b, appendLabels(nil, ls))
		require.NoError(t, err)
		require.Equal(t, ls, ls2)
	})
}

func FuzzDecodeChunkCell(f *testing.F) {
	f.Add(appendChunkCell(nil, Chunk{MinTime: 10, MaxTime: 20, Encoding: chunkenc.EncXOR, Data: []byte{1, 2}}))
	f.Add([]byte{cellFormatV1, 0x80})
	f.Fuzz(func(t *testing.T, buf []byte) {
		c, err := decodeChunkCell(buf)
		if err != nil {
			return
		}
		require.LessOrEqual(t, c.MinTime, c.MaxTime)
		_, _ = c.Open() // must not panic on garbage
	})
}

// TestGoldenKeys pins the bytes of every kind of row key, as written before
// the tenant and bucket prefix moved to package widecolumn (the same hex
// came out of the code of commit 17c13d7): existing stores stay readable.
// Changing one of these is a migration, not a refactoring.
func TestGoldenKeys(t *testing.T) {
	s := testSchema()
	var id SeriesID
	for i := range id {
		id[i] = byte(i)
	}
	cases := map[string]struct {
		got  []byte
		want string
	}{
		"series":   {seriesKey(nil, "tenant-1", 18628, id), "0874656e616e742d31000048c453000102030405060708090a0b0c0d0e0f"},
		"chunk":    {chunkKey(nil, "tenant-1", 18628, id, 1609459200000), "0874656e616e742d31000048c443000102030405060708090a0b0c0d0e0f80000176bb3e7000"},
		"names":    {namesKey(nil, "tenant-1", 18628), "0874656e616e742d31000048c44e"},
		"postings": {append(s.postingsValuePrefix(nil, "tenant-1", 18628, "job", "api\xff"), 3), "0874656e616e742d31000048c45000036a6f620104617069ff03"},
		"tenant":   {appendTenant(nil, "tenant-1"), "0874656e616e742d31"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			require.Equal(t, tc.want, hex.EncodeToString(tc.got))
			if name != "tenant" {
				p, err := parseKey(tc.got)
				require.NoError(t, err)
				require.Equal(t, "tenant-1", p.Tenant)
				require.Equal(t, uint32(18628), p.Bucket)
			}
		})
	}
}
