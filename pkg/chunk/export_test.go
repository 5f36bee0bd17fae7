package chunk

// DecodeChunkCell exports decodeChunkCell to the external tests.
var DecodeChunkCell = decodeChunkCell
