//go:build unix

package scripting_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/alexarules/alexarules/engine/enginetest"
	"github.com/alexarules/alexarules/scripting"
)

// A named pipe called like a module (or a symlink to one) never blocks a capture or a require
// (opening it for reading would wait for a writer): require names it.
func TestALibPipeIsRefusedNotOpened(t *testing.T) {
	lib := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(lib, "pipe.lua"), 0o644); err != nil {
		t.Skip("named pipes not supported:", err)
	}
	if err := os.Symlink("pipe.lua", filepath.Join(lib, "link.lua")); err != nil {
		t.Fatal(err)
	}
	writeLib(t, lib, "ok.lua", `return "ok"`)
	for name, capture := range map[string]bool{"captured": true, "read at first require": false} {
		t.Run(name, func(t *testing.T) {
			done := make(chan [3]string, 1)
			go func() {
				libs := scripting.NewLibCache()
				if capture {
					libs.Capture(lib)
				}
				done <- [3]string{requireIn(t, lib, libs, "pipe"), requireIn(t, lib, libs, "link"), requireIn(t, lib, libs, "ok")}
			}()
			select {
			case got := <-done:
				for i, module := range []string{"pipe", "link"} {
					want := `module "` + module + `": ` + filepath.Join(lib, module+".lua") + ` is not a regular file (a named pipe)`
					if !strings.Contains(got[i], want) {
						t.Errorf("require %q: %q, want %q", module, got[i], want)
					}
				}
				if got[2] != "ok" {
					t.Errorf("require \"ok\": %q", got[2])
				}
			case <-time.After(enginetest.Timeout): // a safety net: this is immediate
				t.Fatal("blocked on the named pipe lib/pipe.lua")
			}
		})
	}
}
