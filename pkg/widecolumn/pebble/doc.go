// Package pebble is the embedded [widecolumn.Backend]: one Pebble database in a
// directory, the all-in-one's default store.
//
// Each cell is one Pebble key: the row key, escaped so that 0x00 becomes
// 0x00 0xff, then the terminator 0x00 0x01, then the column. The escaping
// keeps row-key order and prefixes, so prefix and range scans of rows are
// Pebble range scans, and dropping a row prefix is one DeleteRange. A batch
// of mutations is one atomic Pebble batch, synced to disk unless
// [Options.NoSync] is set.
//
// Open it with [Open] and close it with [Backend.Close].
package pebble
