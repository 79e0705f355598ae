package rules

import (
	"maps"
	"slices"
	"testing"
)

// Every description table is keyed by names of the loader's own tables,
// with no entry for a name the loader does not have.
func TestDescriptionsCoverTheLoadersTables(t *testing.T) {
	var ctors, mains, kinds []string
	for _, spec := range triggerCatalogue() {
		ctors = append(ctors, spec.name)
		if spec.main {
			mains = append(mains, spec.name)
		}
		if !slices.Contains(kinds, spec.kind) && len(eventFields[spec.kind]) > 0 {
			kinds = append(kinds, spec.kind)
		}
	}
	for _, tc := range []struct {
		what      string
		described []string
		loader    []string
	}{
		{"rule fields (rules/api.go ruleFieldSigs vs define.go ruleFields)", slices.Collect(maps.Keys(ruleFieldSigs)), ruleFields},
		{"trigger docs", slices.Collect(maps.Keys(triggerDocs)), ctors},
		{"main arguments", slices.Collect(maps.Keys(mainArgs)), mains},
		{"event kinds with fields", slices.Collect(maps.Keys(eventFields)), kinds},
	} {
		slices.Sort(tc.described)
		loader := slices.Sorted(slices.Values(tc.loader))
		if !slices.Equal(tc.described, loader) {
			t.Errorf("%s: described %v, loader has %v", tc.what, tc.described, loader)
		}
	}
	for _, f := range RuleFields() {
		if f.Type == "" || f.Doc == "" {
			t.Errorf("rule field %q has no type or doc in rules/api.go", f.Name)
		}
	}
	for _, tr := range Triggers() {
		for _, o := range tr.Options {
			if o.Check == "unknown" {
				t.Errorf("%s: option %s has an unnamed check kind", tr.Name, o.Name)
			}
		}
	}
}
