package host

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/alexarules/alexarules/engine/store"
)

// OpenData opens the data file at path read-only, to look inside while
// no engine runs (alexarules state, timers, trace, events). A file a
// running engine holds is an error that says to ask it with --admin; a
// missing file is a *ConfigError.
func OpenData(path string) (*store.Store, error) {
	if path == "" {
		path = DefaultData
	}
	st, err := store.OpenReadOnly(path)
	switch {
	case errors.Is(err, store.ErrInUse):
		return nil, fmt.Errorf("%w: ask the running engine with --admin URL instead", err)
	case errors.Is(err, fs.ErrNotExist):
		return nil, configErrorf("no data file %s: give --data FILE, or --admin URL to ask a running engine", path)
	}
	return st, err
}
