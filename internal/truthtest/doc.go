// Package truthtest checks the truth files of the proxy captures in
// testdata/captures (see PROXIES.md there) against the captures, decoded
// with the project's own capture and decode packages, so that a truth file
// cannot drift from its capture.
package truthtest
