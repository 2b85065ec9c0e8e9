// Package depstest holds the test that pins which coapaudit package may
// import which, in the manner of go/build's deps_test.go. It has no code
// of its own.
package depstest
