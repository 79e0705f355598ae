package admin_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// browserTimeout bounds the whole browser test; it takes about a second.
const browserTimeout = 30 * time.Second

// chromePath finds a Chromium: CHROME_PATH, else chromium,
// chromium-browser or google-chrome on PATH. Without one the test is
// skipped, except in CI (ALEXARULES_CI set, as .ci/run does), where the
// dashboard must be checked.
func chromePath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROME_PATH"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("ALEXARULES_CI") != "" {
		t.Fatal("no Chromium found (CHROME_PATH, chromium, chromium-browser, google-chrome) and ALEXARULES_CI is set: the dashboard must be tested in CI")
	}
	t.Skip("no Chromium found (set CHROME_PATH or install chromium); the dashboard's browser test is skipped")
	return ""
}

// browser opens a headless Chromium the size of a phone.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromePath(t)),
		chromedp.NoSandbox, chromedp.DisableGPU, chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(390, 844))
	ctx, cancel := context.WithTimeout(context.Background(), browserTimeout)
	t.Cleanup(cancel)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	return bctx
}

// until waits for a JavaScript condition on the page, failing with what.
func until(what, cond string) chromedp.Action[chromedp.Void] {
	poll := chromedp.Poll[bool](cond, chromedp.WithPollingInterval(10*time.Millisecond))
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		if _, err := poll(ctx, t); err != nil {
			return chromedp.Void{}, fmt.Errorf("waiting for %s: %w", what, err)
		}
		return chromedp.Void{}, nil
	}
}

// eval evaluates a JavaScript expression on the page.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return v
}

func TestDashboardInHeadlessChromium(t *testing.T) {
	ctx := browser(t)
	srv, _ := dashboardServer(t)
	err := chromedp.Do(ctx,
		chromedp.Navigate(srv.URL+"/"),
		until("the rule in the table", `document.querySelector('#rules tr[data-rule="lamp"]') !== null`),
		until("the live stream", `document.getElementById('live').textContent === 'live'`),
		until("the connections", `document.getElementById('system').textContent.includes('connected')`))
	if err != nil {
		t.Fatal(err)
	}
	if status, body := do(t, "POST", srv.URL+"/api/events", `{"name":"doorbell-pressed","data":{"who":"<b>guest</b>"}}`); status != 202 {
		t.Fatalf("publish: %d %s", status, body)
	}
	err = chromedp.Do(ctx,
		until("the event to appear live", `[...document.querySelectorAll('#events li')].some(li => li.textContent.includes('doorbell-pressed'))`),
		until("its run to appear live", `document.querySelector('#runs li[data-run]') !== null`),
		chromedp.Click(chromedp.CSS(`#runs li[data-run]`)),
		until("the trace to open", `!document.getElementById('trace-section').hidden`))
	if err != nil {
		t.Fatal(err)
	}
	trace := eval[string](t, ctx, `document.getElementById('trace').textContent`)
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#rules tr[data-rule="lamp"] button`)),
		until("the rule's page with its stored state", `document.getElementById('rule').textContent.includes('"count": 1')`))
	if err != nil {
		t.Fatal(err)
	}
	if rule := eval[string](t, ctx, `document.getElementById('rule').textContent`); !strings.Contains(rule, `event "<script>dim</script>"`) ||
		!strings.Contains(rule, `schedule "07:00"`) || !strings.Contains(rule, "Pending timers") || !strings.Contains(rule, "Holds") {
		t.Errorf("the rule's page: %s", rule)
	}
	title := eval[string](t, ctx, `document.title`)
	overflow := eval[bool](t, ctx, `document.documentElement.scrollWidth > window.innerWidth`)
	for _, want := range []string{"set_brightness", "Desk <Lamp>", `"brightness": 40`, `"brightness": 0.4`, "dimmed for doorbell-pressed", xssLog} {
		if !strings.Contains(trace, want) {
			t.Errorf("the open trace lacks %q:\n%s", want, trace)
		}
	}
	if title != "alexarules" {
		t.Errorf("page title %q: rule data ran as markup", title)
	}
	if overflow {
		t.Error("the page is wider than a phone's screen (390 px)")
	}
}
