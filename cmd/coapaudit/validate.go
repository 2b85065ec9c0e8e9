package main

import (
	"github.com/coapaudit/coapaudit/rules"
)

// Every command checks all its flags before it creates, truncates or
// renames any file: a mistyped flag never costs an earlier output.

// validate checks the flags analyze and live share that are only parsed
// later in the run, and returns the --fail-on severity.
func (af *analyzeFlags) validate() (rules.Severity, error) {
	if err := af.commonFlags.validate(); err != nil {
		return 0, err
	}
	if af.top < 0 {
		return 0, usageErr("--top %d: want a number of rows, 0 for all", af.top)
	}
	if af.maxFindings < 1 {
		return 0, usageErr("--max-findings %d: want at least 1", af.maxFindings)
	}
	return parseFailOn(af.failOn)
}

// validate checks the flags of every command that reads traffic.
func (c *commonFlags) validate() error {
	if _, err := rules.ParseProfile(c.profile); err != nil {
		return usageErr("--profile: %v", err)
	}
	if err := c.validateRecords(); err != nil {
		return err
	}
	return c.compileFilter()
}
