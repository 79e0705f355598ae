package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/alexarules/alexarules/engine/host"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// runCmd runs the engine until SIGINT/SIGTERM; SIGHUP reloads the rules.
func (a *app) runCmd() *cobra.Command {
	var f struct {
		config, rules, data, admin, cloud, push, poll, logLevel, devices, cluster, node string
		dryRun, watch                                                                   bool
	}
	c := &cobra.Command{
		Use:   "run --rules DIR [flags]",
		Short: "run the rules until SIGINT/SIGTERM; SIGHUP reloads them",
		Long: `run loads the rules, connects the Alexa account (when configured) and runs until
SIGINT or SIGTERM, then stops cleanly (exit 0). SIGHUP or POST /api/reload reloads the
rule files, and so does saving one with --watch; a reload with any error changes nothing
(the running rules stay) and shows in the log, /healthz and /api/rules.
Flags override the configuration file (docs/CONFIG.md).`,
		Args: cobra.NoArgs,
	}
	fl := c.Flags()
	fl.StringVar(&f.rules, "rules", "", `rules directory (required, or "rules" in the config file)`)
	fl.StringVar(&f.config, "config", "", "configuration file (JSON, see docs/CONFIG.md)")
	fl.StringVar(&f.data, "data", "", "bbolt data file (default "+host.DefaultData+")")
	fl.StringVar(&f.admin, "admin", "", "admin API address, or off (default "+host.DefaultAdmin+")")
	fl.StringVar(&f.cloud, "cloud", "", "base URL replacing every Amazon host (e.g. the simulator)")
	fl.BoolVar(&f.dryRun, "dry-run", false, "record actions in traces without sending them")
	fl.BoolVar(&f.watch, "watch", false, "reload the rules when their files change (a broken save keeps the running rules)")
	fl.StringVar(&f.push, "push", "", "push transport: http2, websocket or off (default http2)")
	fl.StringVar(&f.poll, "poll-interval", "", "default reading poll interval (default: 5m for the smart-home backend, 60s for features)")
	fl.StringVar(&f.devices, "devices", "", devicesHelp)
	fl.StringVar(&f.logLevel, "log-level", "", "debug, info, warn or error (default info)")
	fl.StringVar(&f.cluster, "cluster", "", "join a cluster on NATS JetStream: nats://HOST:PORT[,...] (docs/CLUSTER.md)")
	fl.StringVar(&f.node, "node", "", "this engine's name in the cluster (default HOSTNAME-PID)")
	c.RunE = a.action(func(cmd *cobra.Command, _ []string) error {
		cfg, err := host.LoadConfig(f.config)
		if err != nil {
			return err
		}
		override(fl, &cfg.Rules, "rules", f.rules)
		override(fl, &cfg.Data, "data", f.data)
		override(fl, &cfg.Admin, "admin", f.admin)
		override(fl, &cfg.Cloud, "cloud", f.cloud)
		override(fl, &cfg.Push, "push", f.push)
		override(fl, &cfg.PollInterval, "poll-interval", f.poll)
		override(fl, &cfg.Devices, "devices", f.devices)
		override(fl, &cfg.LogLevel, "log-level", f.logLevel)
		override(fl, &cfg.Cluster, "cluster", f.cluster)
		override(fl, &cfg.Node, "node", f.node)
		cfg.DryRun = cfg.DryRun || f.dryRun
		clusterDefaults(&cfg)
		if err := cfg.Validate(); err != nil {
			return err
		}
		log, err := newLogger(a.stderr, cfg)
		if err != nil {
			return err
		}
		return runHost(cmd.Context(), host.Options{Config: cfg, Getenv: a.getenv, Log: log, Watch: f.watch, TuneProcs: true,
			AdminReady: func(addr string) { log.Info("admin API listening", "addr", "http://"+addr) }})
	})
	return c
}

// clusterDefaults names the node HOSTNAME-PID and gives it its own data
// file (its secrets and schedule bookkeeping), so that engines started in
// one directory do not share one, when cfg joins a cluster.
func clusterDefaults(cfg *host.Config) {
	if cfg.Cluster == "" {
		return
	}
	if cfg.Node == "" {
		name, err := os.Hostname()
		if err != nil || name == "" {
			name = "node"
		}
		cfg.Node = strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
				return r
			}
			return '_'
		}, name) + "-" + strconv.Itoa(os.Getpid())
	}
	if cfg.Data == "" {
		cfg.Data = "alexarules-" + cfg.Node + ".db"
	}
}

// override sets *dst to the flag's value when the flag was given.
func override(fl *pflag.FlagSet, dst *string, name, v string) {
	if fl.Changed(name) {
		*dst = v
	}
}

// runHost runs a host until ctx ends, reloading its rules on SIGHUP.
func runHost(ctx context.Context, o host.Options) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	reload := make(chan struct{}, 1)
	fwdCtx, stopForwarding := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-hup:
				o.Log.Info("SIGHUP: reloading the rules")
				select {
				case reload <- struct{}{}:
				default: // a reload is pending already
				}
			case <-fwdCtx.Done():
				return
			}
		}
	})
	o.Reload = reload
	err := host.Run(ctx, o)
	stopForwarding()
	wg.Wait()
	if err == nil {
		o.Log.Info("stopped cleanly")
	}
	return err
}

// newLogger logs text lines to w at the configuration's level.
func newLogger(w io.Writer, cfg host.Config) (*slog.Logger, error) {
	level, err := cfg.Level()
	if err != nil {
		return nil, &host.ConfigError{Err: err}
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})), nil
}
