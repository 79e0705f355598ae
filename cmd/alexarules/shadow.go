package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/alexarules/alexarules/engine/host"
	"github.com/spf13/cobra"
)

// shadowCmd toggles a rule's shadow runs on a running engine through its
// admin API (POST /api/rules/{id}/shadow); the engine stores the toggle.
func (a *app) shadowCmd() *cobra.Command {
	var admin string
	c := &cobra.Command{
		Use:   "shadow RULE on|off [--admin URL]",
		Short: "turn a rule's shadow runs on or off (actions recorded, not sent)",
		Long: `shadow turns shadow runs of a rule on or off in a running engine: a shadow rule runs
for real (reads, state, timers) but records the actions it would have sent instead of sending
them (outcome "shadow"). The toggle is stored and overrides the rule's shadow field across
restarts and reloads. docs/RULES.md "Shadow runs".`,
		Args: cobra.ExactArgs(2),
	}
	c.Flags().StringVar(&admin, "admin", host.DefaultAdmin, "admin API of the running engine (URL or host:port)")
	c.RunE = a.action(func(cmd *cobra.Command, args []string) error {
		var on bool
		switch args[1] {
		case "on":
			on = true
		case "off":
		default:
			return usagef("second argument: on or off expected, got %q", args[1])
		}
		base, err := adminBase(admin)
		if err != nil {
			return err
		}
		if err := postShadow(cmd, base, args[0], on); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "rule %s: shadow %s\n", args[0], args[1])
		return nil
	})
	return c
}

func postShadow(cmd *cobra.Command, base, rule string, on bool) error {
	body, _ := json.Marshal(map[string]bool{"shadow": on})
	target := base + "/api/rules/" + url.PathEscape(rule) + "/shadow"
	req, err := http.NewRequestWithContext(cmd.Context(), http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("shadow: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return fmt.Errorf("shadow: is the engine running with its admin API at %s? %w", base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(b, &e) != nil || e.Error == "" {
		e.Error = strings.TrimSpace(string(b))
	}
	return fmt.Errorf("shadow: %s: %s", resp.Status, e.Error)
}
