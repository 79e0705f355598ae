package engine

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
)

// ErrUnknownRule is returned for a rule id that names no loaded rule.
var ErrUnknownRule = errors.New("no such rule")

// shadowBucket is the store bucket of the per-rule shadow toggles: key the
// rule id, value "true" or "false".
const shadowBucket = "shadow"

// shadows holds the shadow toggles set through the admin API or the CLI.
// A toggle overrides the rule file's `shadow` field and outlives restarts
// and reloads: it is kept by rule id.
type shadows struct {
	mu sync.RWMutex
	on map[string]bool
}

func (s *shadows) load(st Store) error {
	kv, err := st.List(shadowBucket, "")
	if err != nil {
		return err
	}
	m := make(map[string]bool, len(kv))
	for id, v := range kv {
		if b, err := strconv.ParseBool(string(v)); err == nil {
			m[id] = b
		}
	}
	s.mu.Lock()
	s.on = m
	s.mu.Unlock()
	return nil
}

// of reports whether rule r runs in shadow: its toggle, else its field.
func (s *shadows) of(r *Rule) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if on, ok := s.on[r.ID]; ok {
		return on
	}
	return r.Shadow
}

// SetShadow turns shadow runs of a loaded rule on or off, durably: the
// toggle overrides the rule's `shadow` field until it is set again, across
// restarts and reloads.
func (e *Engine) SetShadow(rule string, on bool) error {
	if e.rules.Load().byID[rule] == nil {
		return fmt.Errorf("%w: %q", ErrUnknownRule, rule)
	}
	e.shadow.mu.Lock()
	defer e.shadow.mu.Unlock()
	if err := e.store.Put(shadowBucket, rule, []byte(strconv.FormatBool(on))); err != nil {
		return fmt.Errorf("store shadow toggle of rule %s: %w", rule, err)
	}
	if e.shadow.on == nil {
		e.shadow.on = map[string]bool{}
	}
	e.shadow.on[rule] = on
	return nil
}
