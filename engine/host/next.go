package host

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/alexarules/alexarules/engine/admin"
	"github.com/alexarules/alexarules/engine/schedule"
	"github.com/alexarules/alexarules/rules"
)

// NextFires loads the rule files under cfg.Rules as Check does (no engine,
// no account) and returns rule's next count fires at or after from. A
// rule that is not among the valid ones is admin.ErrUnknownRule, with the
// load errors that may explain why.
func NextFires(cfg Config, rule string, from time.Time, count int) (admin.NextReport, error) {
	if cfg.Rules == "" {
		return admin.NextReport{}, configErrorf("--rules DIR or --admin URL is required (or \"rules\" in the config file)")
	}
	set, err := Check(cfg, cfg.Rules)
	if err != nil {
		return admin.NextReport{}, err
	}
	rep, err := nextFires(set, rule, from, count)
	if err != nil && len(set.Errors) > 0 {
		err = fmt.Errorf("%w (%d rule file(s) failed to load; first: %v)", err, len(set.Errors), set.Errors[0])
	}
	return rep, err
}

// nextFires merges the upcoming fires of rule's schedule and cron
// triggers in set, earliest first, and keeps the first count.
func nextFires(set *rules.Set, rule string, from time.Time, count int) (admin.NextReport, error) {
	var def *rules.Def
	if set != nil {
		for _, l := range set.Rules {
			if l.Def.ID == rule {
				def = l.Def
			}
		}
	}
	if def == nil {
		return admin.NextReport{}, fmt.Errorf("%w %q", admin.ErrUnknownRule, rule)
	}
	rep := admin.NextReport{Rule: rule, Enabled: def.Enabled, From: from, Fires: []admin.NextFire{}}
	for _, t := range def.Triggers {
		if t.Spec == nil {
			continue
		}
		zone := ""
		if l, ok := t.Spec.(interface{ Location() *time.Location }); ok {
			zone = l.Location().String()
		}
		for _, f := range schedule.Preview(t.Spec, from, count) {
			rep.Fires = append(rep.Fires, admin.NextFire{Time: f.Time, Zone: zone, Trigger: t.String(), DST: f.DST})
		}
	}
	// Stable: two triggers due at once keep their order in the rule.
	slices.SortStableFunc(rep.Fires, func(a, b admin.NextFire) int { return cmp.Compare(a.Time.UnixNano(), b.Time.UnixNano()) })
	if len(rep.Fires) > count {
		rep.Fires = rep.Fires[:count]
	}
	return rep, nil
}
