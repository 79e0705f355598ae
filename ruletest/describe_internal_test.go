package ruletest

import (
	"slices"
	"strings"
	"testing"

	lua "github.com/yuin/gopher-lua"
)

// The description lists exactly the functions a test's t has.
func TestAPIIsTheFunctionsOfT(t *testing.T) {
	L := lua.NewState()
	defer L.Close()
	var have []string
	(&tester{L: L}).table().ForEach(func(k, _ lua.LValue) { have = append(have, k.String()) })
	_, described := API()
	var names []string
	for _, f := range described {
		names = append(names, f.Name)
		if f.Doc == "" {
			t.Errorf("t.%s has no doc", f.Name)
		}
	}
	slices.Sort(have)
	slices.Sort(names)
	if !slices.Equal(have, names) {
		t.Fatalf("t has %v, the description %v (ruletest/describe.go)", have, names)
	}
}

// t.household takes each field the description names, and no other.
func TestHouseholdFieldsAreTheAcceptedOnes(t *testing.T) {
	L := lua.NewState()
	defer L.Close()
	try := func(field string) error {
		if err := L.DoString(`h = { ` + field + ` = { { name = "X" } } }`); err != nil {
			t.Fatal(err)
		}
		_, _, err := householdFrom(L.GetGlobal("h").(*lua.LTable))
		return err
	}
	for _, f := range HouseholdFields() {
		if err := try(f.Name); err != nil && strings.Contains(err.Error(), "unknown household field") {
			t.Errorf("%s: %v", f.Name, err)
		}
	}
	if err := try("zones"); err == nil || !strings.Contains(err.Error(), `unknown household field "zones"`) {
		t.Errorf("an undescribed field: %v", err)
	}
}
