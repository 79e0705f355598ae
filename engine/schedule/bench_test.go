package schedule_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/engine/enginetest"
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

// BenchmarkSchedulerFires runs entries with periods of 3,600 s, 3,601 s,
// ... on a Virtual clock, so each fires at its own times; one op is four
// hours of virtual time, and ns/fire is the scheduler's cost per fire,
// clock timer included.
func BenchmarkSchedulerFires(b *testing.B) {
	for _, n := range []int{100, 1000, 10_000} {
		b.Run(fmt.Sprintf("entries_%d", n), func(b *testing.B) {
			v := engine.NewVirtual(t0)
			fires := 0
			s := schedule.New(v, func(string, time.Time, bool) { fires++ }, nil, nil)
			entries := make([]schedule.Entry, n)
			for i := range entries {
				entries[i] = entry(b, strconv.Itoa(i), fmt.Sprintf("@every %ds", 3600+i), "")
			}
			s.Set(entries)
			ctx, cancel := context.WithCancel(b.Context())
			done := make(chan error, 1)
			go func() { done <- s.Run(ctx) }()
			defer func() { cancel(); <-done }()
			enginetest.WaitPending(b, v, 1)
			for b.Loop() {
				v.Advance(4 * time.Hour)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(fires), "ns/fire")
		})
	}
}
