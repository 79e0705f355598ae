package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/engine/host"
	"github.com/spf13/cobra"
)

// inspectCmd builds a command that reads a source: run gets it open.
func (a *app) inspectCmd(c *cobra.Command, f *sourceFlags, run func(ctx context.Context, src source, args []string) error) *cobra.Command {
	f.add(c)
	c.RunE = a.action(func(cmd *cobra.Command, args []string) error {
		src, err := f.open()
		if err != nil {
			return err
		}
		defer src.close()
		return run(cmd.Context(), src, args)
	})
	return c
}

// traceCmd prints a rule's latest runs.
func (a *app) traceCmd() *cobra.Command {
	var f sourceFlags
	var last int
	c := &cobra.Command{
		Use:   "trace RULE [--last N] [--admin URL | --data FILE] [--json]",
		Short: "a rule's latest runs: outcome, actions with arguments and results, log lines",
		Long: `trace prints a rule's latest runs, newest first: when each started, its outcome
(ok, failed, timeout, skipped, dry_run, shadow) and why it was skipped or late, every action with
its arguments and result, and its log lines. It asks the running engine with --admin URL, or
reads the data file (--data, default alexarules.db) when no engine holds it.`,
		Args: cobra.ExactArgs(1),
	}
	c.Flags().IntVar(&last, "last", 10, "how many runs")
	return a.inspectCmd(c, &f, func(ctx context.Context, src source, args []string) error {
		if err := checkLast(last); err != nil {
			return err
		}
		traces, err := src.runs(ctx, args[0], last)
		if err != nil {
			return err
		}
		return printAll(a, f.json, traces, fmt.Sprintf("no runs of rule %q recorded", args[0]),
			func(t engine.Trace) { printTrace(a.stdout, t) })
	})
}

// checkLast checks a --last flag.
func checkLast(n int) error {
	if n < 1 || n > 10000 {
		return usagef("--last: a whole number from 1 to 10000 expected, got %d", n)
	}
	return nil
}

// printAll prints items as JSON (an empty list as []) or each with print;
// none says empty on stderr.
func printAll[T any](a *app, asJSON bool, items []T, empty string, print func(T)) error {
	if asJSON {
		if items == nil {
			items = []T{}
		}
		return printJSON(a.stdout, items)
	}
	if len(items) == 0 {
		fmt.Fprintln(a.stderr, empty)
	}
	for _, it := range items {
		print(it)
	}
	return nil
}

// printTrace writes one run: a heading line, then its actions and logs.
func printTrace(w io.Writer, t engine.Trace) {
	name := t.Rule
	if t.Handler != "" {
		name += "/" + t.Handler
	}
	fmt.Fprintf(w, "%s  %-8s %8.1fms  %s", t.Started.Local().Format("2006-01-02 15:04:05.000"), t.Outcome, t.DurationMS, name)
	if t.Trigger != "" {
		fmt.Fprintf(w, "  trigger %s", t.Trigger)
	}
	if t.EventID != "" {
		fmt.Fprintf(w, "  event %s", t.EventID)
	}
	fmt.Fprintln(w)
	for _, s := range []struct{ label, text string }{{"reason", t.Reason}, {"error", t.Error}} {
		if s.text != "" {
			fmt.Fprintf(w, "    %-7s %s\n", s.label, s.text)
		}
	}
	for _, act := range t.Actions {
		fmt.Fprintf(w, "    %-7s %s", "action", act.Call)
		if act.Device != "" {
			fmt.Fprintf(w, " %q", act.Device)
		}
		if args := compactJSON(act.Args); args != "" {
			fmt.Fprintf(w, " %s", args)
		}
		if res := compactJSON(act.Result); res != "" {
			fmt.Fprintf(w, " -> %s", res)
		}
		fmt.Fprintln(w)
	}
	for _, l := range t.Log {
		fmt.Fprintf(w, "    %-7s %s\n", "log", l)
	}
}

// stateCmd prints a rule's persisted ctx.state.
func (a *app) stateCmd() *cobra.Command {
	var f sourceFlags
	c := &cobra.Command{
		Use:   "state RULE [--admin URL | --data FILE] [--json]",
		Short: "a rule's persisted ctx.state",
		Long: `state prints a rule's persisted ctx.state as the last successful run left it. It asks
the running engine with --admin URL, or reads the data file (--data, default alexarules.db)
when no engine holds it.`,
		Args: cobra.ExactArgs(1),
	}
	return a.inspectCmd(c, &f, func(ctx context.Context, src source, args []string) error {
		rep, err := src.state(ctx, args[0])
		if err != nil {
			return err
		}
		if f.json {
			return printJSON(a.stdout, rep)
		}
		if len(rep.State) == 0 || string(rep.State) == "null" {
			fmt.Fprintf(a.stderr, "rule %q has no stored state\n", args[0])
			return nil
		}
		var v any
		if err := json.Unmarshal(rep.State, &v); err != nil {
			return fmt.Errorf("state of %s: %w", args[0], err)
		}
		return printJSON(a.stdout, v)
	})
}

// timersCmd lists the pending durable timers.
func (a *app) timersCmd() *cobra.Command {
	var f sourceFlags
	c := &cobra.Command{
		Use:   "timers [RULE] [--admin URL | --data FILE] [--json]",
		Short: "pending durable timers (ctx.after, ctx.at), earliest due first",
		Long: `timers lists the pending durable timers (ctx.after, ctx.at) of every rule, or of RULE,
earliest due first: when each is due, its rule and handler, its id and arguments. It asks the
running engine with --admin URL, or reads the data file (--data, default alexarules.db) when
no engine holds it.`,
		Args: cobra.MaximumNArgs(1),
	}
	return a.inspectCmd(c, &f, func(ctx context.Context, src source, args []string) error {
		rule := ""
		if len(args) == 1 {
			rule = args[0]
		}
		timers, err := src.timers(ctx, rule)
		if err != nil {
			return err
		}
		now := time.Now()
		return printAll(a, f.json, timers, "no pending timers", func(t engine.TimerRecord) {
			fmt.Fprintf(a.stdout, "%s  %-10s %s/%s  id %s", t.Due.Local().Format("2006-01-02 15:04:05"), dueIn(t.Due, now), t.Rule, t.Handler, t.ID)
			if args := compactJSON(t.Args); args != "" {
				fmt.Fprintf(a.stdout, "  args %s", args)
			}
			fmt.Fprintln(a.stdout)
		})
	})
}

// dueIn says how far away due is: "in 4m59s", or "overdue".
func dueIn(due, now time.Time) string {
	if !due.After(now) {
		return "overdue"
	}
	return "in " + due.Sub(now).Round(time.Second).String()
}

// eventsCmd lists recent events, or follows new ones.
func (a *app) eventsCmd() *cobra.Command {
	var f sourceFlags
	var last int
	var follow bool
	c := &cobra.Command{
		Use:   "events [--follow] [--last N] [--admin URL | --data FILE] [--json]",
		Short: "recent events, or with --follow the engine's events as they come until Ctrl-C",
		Long: `events lists the recent-events journal, newest first. With --follow it streams the
events a running engine takes from now on (GET /api/events/stream, Server-Sent Events) until
Ctrl-C; --follow needs --admin URL (default http://` + host.DefaultAdmin + `). With --json each
event is one JSON object per line.`,
		Args: cobra.NoArgs,
	}
	c.Flags().IntVar(&last, "last", 20, "how many recent events (without --follow)")
	c.Flags().BoolVarP(&follow, "follow", "f", false, "stream new events until Ctrl-C")
	f.add(c)
	c.RunE = a.action(func(cmd *cobra.Command, _ []string) error {
		if follow {
			return a.follow(cmd.Context(), f)
		}
		if err := checkLast(last); err != nil {
			return err
		}
		src, err := f.open()
		if err != nil {
			return err
		}
		defer src.close()
		evs, err := src.events(cmd.Context(), last)
		if err != nil {
			return err
		}
		return printAll(a, f.json, evs, "no events recorded", func(ev engine.EventRecord) { printEvent(a.stdout, ev) })
	})
	return c
}

// follow prints the engine's events as the admin API streams them, until
// ctx ends (Ctrl-C: exit 0) or the stream does.
func (a *app) follow(ctx context.Context, f sourceFlags) error {
	if f.data != "" {
		return usagef("--follow needs a running engine: give --admin URL, not --data")
	}
	if f.admin == "" {
		f.admin = host.DefaultAdmin
	}
	api, err := newAPISource(f.admin, 0) // no timeout: the stream is long
	if err != nil {
		return err
	}
	resp, err := api.do(ctx, "/api/events/stream", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	fmt.Fprintf(a.stderr, "following events at %s (Ctrl-C to stop)\n", api.base)
	err = readStream(resp.Body, func(kind string, data []byte) error {
		if kind == "dropped" {
			fmt.Fprintf(a.stderr, "events lost: this client fell behind the engine: %s\n", data)
			return nil
		}
		if f.json {
			_, err := fmt.Fprintf(a.stdout, "%s\n", data)
			return err
		}
		var ev engine.EventRecord
		if err := json.Unmarshal(data, &ev); err != nil {
			return fmt.Errorf("events stream: %w", err)
		}
		printEvent(a.stdout, ev)
		return nil
	})
	if ctx.Err() != nil {
		return nil // Ctrl-C
	}
	if err == nil {
		err = errors.New("the engine ended the stream (it stopped)")
	}
	return err
}

// readStream calls msg for each Server-Sent Events message in r: its
// event name ("" for the default) and data.
func readStream(r io.Reader, msg func(kind string, data []byte) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var kind string
	var data []byte
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if data != nil {
				if err := msg(kind, data); err != nil {
					return err
				}
			}
			kind, data = "", nil
		case strings.HasPrefix(line, "event:"):
			kind = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:"):
			if data != nil {
				data = append(data, '\n') // a multi-line message
			}
			data = append(data, strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " ")...)
		}
	}
	return sc.Err()
}

// printEvent writes one event on one line.
func printEvent(w io.Writer, ev engine.EventRecord) {
	fmt.Fprintf(w, "%s  %-14s", ev.Time.Local().Format("2006-01-02 15:04:05.000"), ev.Kind)
	if ev.Device != nil {
		fmt.Fprintf(w, " device %q", cmp.Or(ev.Device.Name, ev.Device.ID))
	}
	if ev.Name != "" {
		fmt.Fprintf(w, " %s", ev.Name)
	}
	if data := compactJSON(ev.Data); data != "" {
		fmt.Fprintf(w, " %s", data)
	}
	fmt.Fprintf(w, "  id %s\n", ev.ID)
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
