package retry_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/alexarules/alexarules/alexa/internal/retry"
)

func TestBackoff(t *testing.T) {
	tests := []struct {
		n           int
		base, limit time.Duration
		want        time.Duration
	}{
		{n: -1, base: time.Second, limit: time.Minute, want: time.Second},
		{n: 0, base: time.Second, limit: time.Minute, want: time.Second},
		{n: 1, base: time.Second, limit: time.Minute, want: 2 * time.Second},
		{n: 3, base: 200 * time.Millisecond, limit: 5 * time.Second, want: 1600 * time.Millisecond},
		{n: 5, base: 200 * time.Millisecond, limit: 5 * time.Second, want: 5 * time.Second},
		{n: 6, base: 5 * time.Second, limit: 10 * time.Minute, want: 320 * time.Second},
		{n: 7, base: 5 * time.Second, limit: 10 * time.Minute, want: 10 * time.Minute},
		{n: 1 << 30, base: time.Second, limit: time.Hour, want: time.Hour}, // no overflow
		{n: 0, base: time.Minute, limit: time.Second, want: time.Second},   // base above the limit
	}
	for _, tt := range tests {
		if got := retry.Backoff(tt.n, tt.base, tt.limit); got != tt.want {
			t.Errorf("Backoff(%d, %v, %v) = %v, want %v", tt.n, tt.base, tt.limit, got, tt.want)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		header string
		want   time.Duration
	}{
		{"", 0},
		{"  ", 0},
		{"7", 7 * time.Second},
		{" 120 ", 2 * time.Minute},
		{"0", 0},
		{"-5", 0},
		{"soon", 0},
		{"Sat, 01 Mar 2025 12:00:30 GMT", 30 * time.Second},
		{"Sat, 01 Mar 2025 11:59:00 GMT", 0}, // in the past
	}
	for _, tt := range tests {
		if got := retry.RetryAfter(tt.header, now); got != tt.want {
			t.Errorf("RetryAfter(%q) = %v, want %v", tt.header, got, tt.want)
		}
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		s    string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly", 7, "exactly"},
		{"abcdef", 3, "abc…"},
		{"aé", 2, "a…"}, // the cut splits é: its first byte is dropped
		{"", 0, ""},
	}
	for _, tt := range tests {
		if got := retry.Truncate(tt.s, tt.n); got != tt.want {
			t.Errorf("Truncate(%q, %d) = %q, want %q", tt.s, tt.n, got, tt.want)
		}
	}
}

func TestSleep(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		d    time.Duration
		want error
	}{
		{"zero, live context", context.Background(), 0, nil},
		{"negative, live context", context.Background(), -time.Second, nil},
		{"short wait", context.Background(), time.Nanosecond, nil},
		{"zero, ended context", cancelled, 0, context.Canceled},
		// The timer cannot fire before the hour is up, so only ctx can end it.
		{"long wait, ended context", cancelled, time.Hour, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := retry.Sleep(tt.ctx, tt.d); !errors.Is(err, tt.want) {
				t.Errorf("Sleep = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestWithDefaults(t *testing.T) {
	def := retry.Policy{MaxAttempts: 4, BaseBackoff: time.Second, MaxBackoff: 30 * time.Second, MaxRetryAfter: 2 * time.Minute}

	got := retry.Policy{MaxAttempts: -1, MaxBackoff: -time.Second}.WithDefaults(def)
	if got.MaxAttempts != 4 || got.BaseBackoff != time.Second || got.MaxBackoff != 30*time.Second || got.MaxRetryAfter != 2*time.Minute {
		t.Errorf("unset fields: got %+v, want those of %+v", got, def)
	}
	if got.Sleep == nil || got.Now == nil {
		t.Fatal("Sleep and Now must default")
	}
	if err := got.Sleep(context.Background(), 0); err != nil {
		t.Errorf("default Sleep(0) = %v", err)
	}

	fixed := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	slept := false
	set := retry.Policy{
		MaxAttempts: 1, BaseBackoff: time.Millisecond, MaxBackoff: time.Millisecond, MaxRetryAfter: time.Millisecond,
		Sleep: func(context.Context, time.Duration) error { slept = true; return nil },
		Now:   func() time.Time { return fixed },
	}.WithDefaults(def)
	if set.MaxAttempts != 1 || set.BaseBackoff != time.Millisecond || set.MaxBackoff != time.Millisecond || set.MaxRetryAfter != time.Millisecond {
		t.Errorf("set fields were replaced: %+v", set)
	}
	_ = set.Sleep(context.Background(), time.Hour)
	if !slept || !set.Now().Equal(fixed) {
		t.Error("set Sleep and Now were replaced")
	}
}

func TestDelay(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	p := retry.Policy{
		MaxAttempts: 4, BaseBackoff: 200 * time.Millisecond, MaxBackoff: 5 * time.Second, MaxRetryAfter: time.Minute,
		Now: func() time.Time { return now },
	}
	withDeadline := func(after time.Duration) context.Context {
		ctx, cancel := context.WithDeadline(context.Background(), now.Add(after))
		t.Cleanup(cancel)
		return ctx
	}
	tests := []struct {
		name       string
		ctx        context.Context
		attempt    int
		retryAfter time.Duration
		want       time.Duration
		ok         bool
	}{
		{"first retry", context.Background(), 1, 0, 200 * time.Millisecond, true},
		{"doubles", context.Background(), 3, 0, 800 * time.Millisecond, true},
		{"attempts used up", context.Background(), 4, 0, 0, false},
		{"Retry-After replaces the back-off", context.Background(), 1, 7 * time.Second, 7 * time.Second, true},
		{"Retry-After at the limit", context.Background(), 1, time.Minute, time.Minute, true},
		{"Retry-After beyond the limit", context.Background(), 1, time.Hour, 0, false},
		{"wait ends at the deadline", withDeadline(time.Second), 1, time.Second, time.Second, true},
		{"wait outlives the deadline", withDeadline(time.Second), 1, 2 * time.Second, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := p.Delay(tt.ctx, tt.attempt, tt.retryAfter)
			if got != tt.want || ok != tt.ok {
				t.Errorf("Delay(attempt %d, Retry-After %v) = %v, %v; want %v, %v", tt.attempt, tt.retryAfter, got, ok, tt.want, tt.ok)
			}
		})
	}
}
