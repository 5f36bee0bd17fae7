// Package widecolumntest is the conformance suite every
// [widecolumn.Backend] passes: [Run] checks the Backend contract on raw
// rows (key order with any bytes, ranges, filters, limits, prefix drops)
// and the namespace rules on rows of every namespace (tenant deletion,
// bucket retention, tenant listing). Backend packages call it from their
// tests with a constructor of fresh, empty backends; [Dump], [Count] and
// [TenantRows] help other packages' tests look at what is stored.
package widecolumntest
