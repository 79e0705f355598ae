package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// cmdRun runs the engine until SIGINT/SIGTERM.
func cmdRun(ctx context.Context, e env, args []string) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	rulesDir := fs.String("rules", "", "rules directory (required, or \"rules\" in the config file)")
	configFile := fs.String("config", "", "configuration file (JSON, see docs/CONFIG.md)")
	data := fs.String("data", "", "bbolt data file (default alexarules.db)")
	adminAddr := fs.String("admin", "", "admin API address, or off (default 127.0.0.1:8080)")
	cloud := fs.String("cloud", "", "base URL replacing every Amazon host (e.g. the simulator)")
	dryRun := fs.Bool("dry-run", false, "record actions in traces without sending them")
	push := fs.String("push", "", "push transport: http2, websocket or off (default http2)")
	poll := fs.String("poll-interval", "", "default reading poll interval (default 60s)")
	logLevel := fs.String("log-level", "", "debug, info, warn or error (default info)")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(e.stderr, "run: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	cfg, err := loadConfig(*configFile)
	if err != nil {
		fmt.Fprintf(e.stderr, "run: %v\n", err)
		return exitUsage
	}
	override := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	override(&cfg.Rules, *rulesDir)
	override(&cfg.Data, *data)
	override(&cfg.Admin, *adminAddr)
	override(&cfg.Cloud, *cloud)
	override(&cfg.Push, *push)
	override(&cfg.PollInterval, *poll)
	override(&cfg.LogLevel, *logLevel)
	cfg.DryRun = cfg.DryRun || *dryRun
	if cfg.Rules == "" {
		fmt.Fprintln(e.stderr, "run: --rules DIR is required")
		return exitUsage
	}
	if cfg.Data == "" {
		cfg.Data = "alexarules.db"
	}
	if cfg.Admin == "" {
		cfg.Admin = "127.0.0.1:8080"
	}
	switch cfg.Push {
	case "", "http2", "websocket", "off":
	default:
		fmt.Fprintf(e.stderr, "run: --push %q: http2, websocket or off\n", cfg.Push)
		return exitUsage
	}
	if cfg.PollInterval != "" {
		if d, err := time.ParseDuration(cfg.PollInterval); err != nil || d <= 0 {
			fmt.Fprintf(e.stderr, "run: --poll-interval %q: a positive duration such as 60s\n", cfg.PollInterval)
			return exitUsage
		}
	}
	loc, err := cfg.location()
	if err != nil {
		fmt.Fprintf(e.stderr, "run: %v\n", err)
		return exitUsage
	}
	place, err := cfg.place()
	if err != nil {
		fmt.Fprintf(e.stderr, "run: %v\n", err)
		return exitUsage
	}
	log, err := newLogger(e, cfg.LogLevel)
	if err != nil {
		fmt.Fprintf(e.stderr, "run: %v\n", err)
		return exitUsage
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	reload := make(chan struct{})
	go func() {
		for {
			select {
			case <-hup:
				log.Info("SIGHUP: reloading the rules")
				select {
				case reload <- struct{}{}:
				case <-ctx.Done():
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	err = serve(ctx, hostOptions{
		Reload:    reload,
		RulesDirs: []string{cfg.Rules}, DataFile: cfg.Data, AdminAddr: cfg.Admin, Location: loc, Place: place,
		DryRun: cfg.DryRun, Log: log,
		Alexa:      func(s alexaSetup) (*alexaRuntime, error) { return startAlexa(ctx, cfg, e, s, log) },
		AdminReady: func(addr string) { log.Info("admin API listening", "addr", "http://"+addr) },
	})
	if err != nil {
		fmt.Fprintf(e.stderr, "run: %v\n", err)
		return exitUsage
	}
	log.Info("stopped cleanly")
	return exitOK
}

func newLogger(e env, level string) (*slog.Logger, error) {
	var l slog.Level
	if level != "" {
		if err := l.UnmarshalText([]byte(strings.ToLower(level))); err != nil {
			return nil, fmt.Errorf("log level %q: debug, info, warn or error", level)
		}
	}
	return slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: l})), nil
}
