package main

import (
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/alexarules/alexarules/engine/admin"
	"github.com/alexarules/alexarules/engine/host"
	"github.com/spf13/cobra"
)

// nextCmd lists a rule's upcoming schedule and cron fires.
func (a *app) nextCmd() *cobra.Command {
	var f struct {
		rules, admin, from, config, tz string
		count                          int
		json                           bool
	}
	c := &cobra.Command{
		Use:   "next RULE [--count N] [--from RFC3339] [--rules DIR | --admin URL] [--json]",
		Short: "a rule's upcoming schedule and cron fires, daylight saving shifts marked",
		Long: `next lists a rule's next fires (its schedule and cron triggers, merged, earliest first)
at or after --from (default now), each in its trigger's time zone. A fire that a daylight saving
transition moves is marked: a wall time in the spring-forward gap fires at the end of the gap
("DST: 02:30 does not exist, fires at 03:00"), one in the repeated fall-back hour fires once, at
its first occurrence. It loads the rules directory itself (--rules DIR, no engine needed; the
time zone and place from --config and --tz, as check does), or asks a running engine (--admin URL).`,
		Args: cobra.ExactArgs(1),
	}
	fl := c.Flags()
	fl.IntVar(&f.count, "count", 10, "how many fires")
	fl.StringVar(&f.from, "from", "", "list fires at or after this RFC 3339 time (default now)")
	fl.StringVar(&f.rules, "rules", "", `rules directory (or "rules" in the config file)`)
	fl.StringVar(&f.admin, "admin", "", "ask the running engine's admin API at URL instead")
	fl.StringVar(&f.config, "config", "", "configuration file (rules, time zone, latitude and longitude)")
	fl.StringVar(&f.tz, "tz", "", "time zone of schedules (default: the configuration's, else the machine's)")
	fl.BoolVar(&f.json, "json", false, "print JSON (GET /api/rules/{id}/next's) instead of text")
	c.RunE = a.action(func(cmd *cobra.Command, args []string) error {
		if f.count < 1 || f.count > 1000 {
			return usagef("--count: a whole number from 1 to 1000 expected, got %d", f.count)
		}
		from := time.Now()
		if f.from != "" {
			t, err := time.Parse(time.RFC3339, f.from)
			if err != nil {
				return usagef("--from: an RFC 3339 time expected (2026-03-29T00:00:00+01:00), got %q", f.from)
			}
			from = t
		}
		var rep admin.NextReport
		var err error
		switch {
		case f.admin != "" && (f.rules != "" || f.config != "" || f.tz != ""):
			return usagef("--admin asks the engine, which has its own rules and time zone: drop --rules, --config and --tz")
		case f.admin != "":
			rep, err = nextFromAdmin(cmd, f.admin, args[0], from, f.count)
		default:
			rep, err = nextFromDir(f.config, f.rules, f.tz, args[0], from, f.count)
		}
		if err != nil {
			return err
		}
		if f.json {
			return printJSON(a.stdout, rep)
		}
		a.printNext(rep)
		return nil
	})
	return c
}

// nextFromDir loads the rules directory as check does.
func nextFromDir(config, rules, tz, rule string, from time.Time, count int) (admin.NextReport, error) {
	cfg, err := host.LoadConfig(config)
	if err != nil {
		return admin.NextReport{}, err
	}
	if rules != "" {
		cfg.Rules = rules
	}
	if tz != "" {
		cfg.Timezone = tz
	}
	return host.NextFires(cfg, rule, from, count)
}

// nextFromAdmin asks GET /api/rules/{id}/next.
func nextFromAdmin(cmd *cobra.Command, adminURL, rule string, from time.Time, count int) (rep admin.NextReport, err error) {
	api, err := newAPISource(adminURL, apiTimeout)
	if err != nil {
		return rep, err
	}
	q := url.Values{"count": {strconv.Itoa(count)}, "from": {from.Format(time.RFC3339)}}
	return rep, api.get(cmd.Context(), "/api/rules/"+url.PathEscape(rule)+"/next", q, &rep)
}

// printNext writes one fire a line: weekday, date and time with the zone,
// the trigger, and the DST note.
func (a *app) printNext(rep admin.NextReport) {
	if !rep.Enabled {
		fmt.Fprintf(a.stderr, "rule %q is disabled: it fires at none of these times\n", rep.Rule)
	}
	if len(rep.Fires) == 0 {
		fmt.Fprintf(a.stderr, "rule %q has no schedule or cron trigger\n", rep.Rule)
	}
	for _, f := range rep.Fires {
		// Decoded JSON times carry an offset, not the zone's abbreviation.
		if loc, err := time.LoadLocation(f.Zone); err == nil && f.Zone != "" {
			f.Time = f.Time.In(loc)
		}
		fmt.Fprintf(a.stdout, "%s  %s", f.Time.Format("Mon 2006-01-02 15:04:05 MST (-07:00)"), f.Trigger)
		if f.DST != "" {
			fmt.Fprintf(a.stdout, "  (DST: %s)", f.DST)
		}
		fmt.Fprintln(a.stdout)
	}
}
