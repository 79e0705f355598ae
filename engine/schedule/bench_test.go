package schedule_test

import (
	"testing"
	"time"

	"github.com/alexarules/alexarules/engine/schedule"
)

func benchmarkNext(b *testing.B, kind, spec string) {
	loc := mustLoad(b, "Europe/Berlin")
	s := parse(b, kind, spec, loc)
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, loc)
	for b.Loop() {
		at = s.Next(at)
		if at.Year() > 2027 {
			at = time.Date(2026, 3, 1, 0, 0, 0, 0, loc)
		}
	}
}

func BenchmarkNext(b *testing.B) {
	for _, c := range []struct{ name, kind, spec string }{
		{"cron_weekdays", "cron", "0 7 * * 1-5"},
		{"cron_every5m", "cron", "*/5 * * * *"},
		{"cron_yearly", "cron", "@yearly"},
		{"schedule_daily", "schedule", "mon-fri 07:00,19:30"},
		{"schedule_every", "schedule", "every 10m"},
		{"schedule_window", "schedule", "mon-fri every 15m between 08:00 and 18:00"},
	} {
		b.Run(c.name, func(b *testing.B) { benchmarkNext(b, c.kind, c.spec) })
	}
}

func BenchmarkParse(b *testing.B) {
	b.Run("cron", func(b *testing.B) {
		for b.Loop() {
			if _, err := schedule.ParseCron("0 7 * * 1-5", time.UTC); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("schedule", func(b *testing.B) {
		for b.Loop() {
			if _, err := schedule.ParseSchedule("mon-fri 07:00,19:30", time.UTC); err != nil {
				b.Fatal(err)
			}
		}
	})
}
