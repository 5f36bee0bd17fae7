// Package resultscache holds the query frontend's results-cache backends
// behind one narrow [Cache] interface: an in-process LRU bounded by bytes
// ([NewInMemory], the embedded default) and memcached ([NewMemcached],
// github.com/bradfitz/gomemcache) for a cluster, where every frontend
// shares one cache. [New] builds the one a [Config] names.
//
// Values are opaque bytes; keys are short strings safe for memcached (the
// caller hashes its logical key and keeps the logical key in the value to
// check on a hit). A failing backend reads as a miss and a write that fails
// is dropped, counted in hearth_query_frontend_results_cache_errors_total:
// the cache never fails a query.
package resultscache
