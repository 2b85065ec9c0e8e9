// Package tui is coapaudit's terminal flow viewer (`coapaudit view`), in
// the manner of termshark: a list of CoAP exchanges, sortable and
// filterable as one types; for the selected exchange its legs through the
// proxies side by side, with residence times and every option marked as
// protected by OSCORE, exposed to the proxy, or exposed although the
// protection profile asks for it to be protected; the frames of the
// exchange with a hex view that marks the option under the cursor; and
// the findings and leak measurements.
//
// The UI runs on one goroutine. A LoadFunc runs the analysis on another
// and posts its results in batches through a Loader; the UI stays
// responsive while a capture loads and follows a live capture. What is
// kept is bounded: a compact record per frame, the bytes of CoAP frames
// in a store that spills to a temporary file, a capped number of
// exchanges and findings. An exchange is kept as a fixed-size row of
// indices into tables of the strings and addresses that repeat, and its
// JSON record in a second such store; the selected exchange is decoded
// again from its record, and filter expressions read the records too.
// Frames are decoded again, from their stored bytes, only when they come
// into focus, and the decoded frames are kept in a small LRU cache.
package tui
