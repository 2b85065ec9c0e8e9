package rules_test

import "testing"

// TestNotificationBurst checks that notifications far above the observed
// rate of an observation are reported as a flood (seed 2.1.1.4).
func TestNotificationBurst(t *testing.T) {
	fs := burstTrace.run(t)
	for _, f := range fs {
		if f.Rule == "notification-flood" {
			return
		}
	}
	t.Errorf("no notification-flood finding for 8 notifications 10 ms apart after 10 at 10 s; got %v", fs)
}
