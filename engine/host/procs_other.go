//go:build !unix

package host

import "time"

// processCPU cannot be read here: the procs tuner stays off.
func processCPU() (time.Duration, bool) { return 0, false }
