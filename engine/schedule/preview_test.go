package schedule_test

import (
	"strings"
	"testing"
	"time"

	"github.com/alexarules/alexarules/engine/schedule"
)

// TestPreviewMarksDST lists fires with their DST notes across both 2026
// transitions of Europe/Berlin (spring 03-29 02:00 CET -> 03:00 CEST, fall
// 10-25 03:00 CEST -> 02:00 CET) and America/New_York (spring 03-08 02:00
// EST -> 03:00 EDT, fall 11-01 02:00 EDT -> 01:00 EST), under RULES.md §2:
// a wall time in the gap fires at the first instant after it, one in the
// repeated hour fires once at its first occurrence, "every N" runs on
// absolute time.
func TestPreviewMarksDST(t *testing.T) {
	const layout = "01-02 15:04 MST"
	tests := []struct {
		zone, kind, spec, from string // from: local wall time, 2026
		want                   []string
	}{
		{"Europe/Berlin", "schedule", "daily 02:30", "03-28 12:00", []string{
			"03-29 03:00 CEST (02:30 does not exist, fires at 03:00)", "03-30 02:30 CEST", "03-31 02:30 CEST"}},
		{"Europe/Berlin", "cron", "30 2 * * *", "03-28 12:00", []string{
			"03-29 03:00 CEST (02:30 does not exist, fires at 03:00)", "03-30 02:30 CEST"}},
		{"Europe/Berlin", "schedule", "daily 03:00", "03-28 12:00", []string{
			"03-29 03:00 CEST", "03-30 03:00 CEST"}},
		{"Europe/Berlin", "schedule", "daily 02:30", "10-24 12:00", []string{
			"10-25 02:30 CEST (02:30 occurs twice, fires once, at the first (CEST))", "10-26 02:30 CET"}},
		{"Europe/Berlin", "cron", "30 2 * * *", "10-24 12:00", []string{
			"10-25 02:30 CEST (02:30 occurs twice, fires once, at the first (CEST))", "10-26 02:30 CET"}},
		{"Europe/Berlin", "cron", "30 * * * *", "10-25 01:00", []string{
			"10-25 01:30 CEST",
			"10-25 02:30 CEST (02:30 occurs twice, this is the first (CEST))",
			"10-25 02:30 CET (02:30 occurs twice, this is the second (CET))",
			"10-25 03:30 CET"}},
		{"Europe/Berlin", "schedule", "every 1h", "03-29 00:30", []string{
			"03-29 01:00 CET", "03-29 03:00 CEST", "03-29 04:00 CEST"}},
		{"America/New_York", "schedule", "mon-fri 02:15", "03-06 12:00", []string{
			"03-09 02:15 EDT"}},
		{"America/New_York", "schedule", "sun 02:15", "03-07 12:00", []string{
			"03-08 03:00 EDT (02:15 does not exist, fires at 03:00)", "03-15 02:15 EDT"}},
		{"America/New_York", "cron", "0 2 * * *", "03-08 01:59", []string{
			"03-08 03:00 EDT (02:00 does not exist, fires at 03:00)", "03-09 02:00 EDT"}},
		{"America/New_York", "schedule", "daily 01:30", "10-31 12:00", []string{
			"11-01 01:30 EDT (01:30 occurs twice, fires once, at the first (EDT))", "11-02 01:30 EST"}},
		{"America/New_York", "schedule", "every 30m", "11-01 00:45", []string{
			"11-01 01:00 EDT (01:00 occurs twice, this is the first (EDT))",
			"11-01 01:30 EDT (01:30 occurs twice, this is the first (EDT))",
			"11-01 01:00 EST (01:00 occurs twice, this is the second (EST))",
			"11-01 01:30 EST (01:30 occurs twice, this is the second (EST))",
			"11-01 02:00 EST"}},
	}
	for _, tt := range tests {
		t.Run(tt.zone+" "+tt.spec+" from "+tt.from, func(t *testing.T) {
			loc := mustLoad(t, tt.zone)
			from, err := time.ParseInLocation("2006-01-02 15:04", "2026-"+tt.from, loc)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range schedule.Preview(parse(t, tt.kind, tt.spec, loc), from, len(tt.want)) {
				s := f.Time.In(loc).Format(layout)
				if f.DST != "" {
					s += " (" + f.DST + ")"
				}
				got = append(got, s)
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// TestPreviewStartsAtFrom: a fire at exactly --from is listed; none before.
func TestPreviewStartsAtFrom(t *testing.T) {
	loc := mustLoad(t, "Europe/Berlin")
	s := parse(t, "schedule", "daily 07:00", loc)
	at := time.Date(2026, 6, 1, 7, 0, 0, 0, loc)
	for _, tt := range []struct {
		from time.Time
		want time.Time
	}{
		{at, at},
		{at.Add(-time.Second), at},
		{at.Add(time.Nanosecond), at.AddDate(0, 0, 1)},
	} {
		got := schedule.Preview(s, tt.from, 1)
		if len(got) != 1 || !got[0].Time.Equal(tt.want) {
			t.Errorf("from %v: got %v, want %v", tt.from, got, tt.want)
		}
	}
	if got := schedule.Preview(s, at, 0); len(got) != 0 {
		t.Errorf("count 0: %v", got)
	}
}
