package server_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
)

// The dashboard's browser tests drive Debian's chromium, headless, over a
// loopback server. One browser serves the whole package; each test opens
// tabs in it. In CI (CI=true) a browser that cannot start fails the test;
// elsewhere the tests skip when chromium is not installed.

// chromiumPath is where Debian's chromium package installs the browser.
const chromiumPath = "/usr/bin/chromium"

var shared struct {
	once sync.Once
	ctx  context.Context
	err  error
}

// startBrowser starts the package's browser once. It lives until the test
// binary exits: chromedp starts it with Pdeathsig from a locked thread, so
// the kernel ends it with the process.
func startBrowser(t *testing.T) context.Context {
	t.Helper()
	path := chromiumPath
	if p := os.Getenv("PCSYNC_CHROMIUM"); p != "" {
		path = p
	}
	if _, err := os.Stat(path); err != nil && os.Getenv("CI") != "true" {
		t.Skipf("no browser at %s: install Debian's chromium (apt-get install chromium) or set PCSYNC_CHROMIUM", path)
	}
	shared.once.Do(func() {
		opts := []chromedp.ExecAllocatorOption{chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
			chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.WindowSize(1280, 900),
			chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
			chromedp.Flag("disable-sync", true), chromedp.Flag("disable-dev-shm-usage", true)}
		alloc, _ := chromedp.NewExecAllocator(context.Background(), opts...) // an empty user data dir of its own
		shared.ctx, _ = chromedp.NewContext(alloc)
		shared.err = chromedp.Do(shared.ctx)
	})
	if shared.err != nil {
		t.Fatalf("the browser at %s does not start: %v", path, shared.err)
	}
	return shared.ctx
}

// tab is a browser tab on a dashboard.
type tab struct {
	t       *testing.T
	ctx     context.Context
	base    string
	shots   string   // where screenshots go
	console []string // what the pages wrote to the console
	mu      sync.Mutex
}

// newTab opens a tab on the dashboard at base. Screenshots go to the
// test's temp dir, or to $PCSYNC_SCREENSHOTS to keep them.
func newTab(t *testing.T, base string) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(startBrowser(t))
	t.Cleanup(cancel)
	b := &tab{t: t, ctx: ctx, base: base, shots: t.TempDir()}
	if dir := os.Getenv("PCSYNC_SCREENSHOTS"); dir != "" {
		b.shots = dir
	}
	if err := chromedp.Do(ctx); err != nil {
		t.Fatal(err)
	}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.console = append(b.console, string(m.Type)+": "+m.Text)
			b.mu.Unlock()
		}
	}()
	return b
}

// run runs an action under a deadline of its own.
func run[T any](b *tab, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("browser: %v", err)
	}
	return v
}

// open loads path and returns the answer's status.
func (b *tab) open(path string) int {
	b.t.Helper()
	return int(run(b, chromedp.NavigateResponse(b.base+path)).Status)
}

// click clicks the first element sel matches and waits for the page it
// opens; it returns the answer's status.
func (b *tab) click(sel string) int {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("click %s: %v", sel, err)
	}
	return int(resp.Status)
}

// texts are the trimmed text contents of the elements sel matches.
func (b *tab) texts(sel string) []string {
	b.t.Helper()
	return run(b, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll(`+strconv.Quote(sel)+`), e => e.textContent.trim())`))
}

// text is the text of the first element sel matches.
func (b *tab) text(sel string) string {
	b.t.Helper()
	ts := b.texts(sel)
	if len(ts) == 0 {
		b.t.Fatalf("%s: no element %s", b.location(), sel)
	}
	return ts[0]
}

// number reads the number the first element sel matches shows.
func (b *tab) number(sel string) int64 {
	b.t.Helper()
	s := strings.ReplaceAll(b.text(sel), ",", "")
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		b.t.Fatalf("%s: %s shows %q, not a number", b.location(), sel, s)
	}
	return n
}

// count is how many elements sel matches.
func (b *tab) count(sel string) int { b.t.Helper(); return len(b.texts(sel)) }

// attr is an attribute of the first element sel matches.
func (b *tab) attr(sel, name string) string {
	b.t.Helper()
	return run(b, chromedp.Evaluate[string](`(document.querySelector(`+strconv.Quote(sel)+`) || {getAttribute: () => ""}).getAttribute(`+
		strconv.Quote(name)+`) || ""`))
}

// location is the page's path and query.
func (b *tab) location() string {
	b.t.Helper()
	return strings.TrimPrefix(run(b, chromedp.Location()), b.base)
}

// shot saves a screenshot of the whole page as name.png.
func (b *tab) shot(name string) {
	b.t.Helper()
	start := time.Now()
	img := run(b, chromedp.FullScreenshot(80)) // JPEG: quicker to encode than PNG
	path := filepath.Join(b.shots, name+".jpeg")
	if err := os.WriteFile(path, img, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot: %s (%s)", path, time.Since(start))
}

// download clicks the link sel matches and returns the file it downloads.
func (b *tab) download(sel string) []byte {
	b.t.Helper()
	dir := b.t.TempDir()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	progress := chromedp.Events(ctx, browser.DownloadProgress)
	run(b, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		yes := true
		_, err := chromedp.Call(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
			Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dir, EventsEnabled: &yes})
		return err
	}))
	run(b, chromedp.Click(chromedp.CSS(sel)))
	for ev, err := range progress {
		if err != nil {
			b.t.Fatalf("download %s: %v", sel, err)
		}
		switch ev.State {
		case browser.DownloadProgressStateCompleted:
			data, err := os.ReadFile(filepath.Join(dir, ev.GUID))
			if err != nil {
				b.t.Fatal(err)
			}
			return data
		case browser.DownloadProgressStateCanceled:
			b.t.Fatalf("download %s canceled", sel)
		}
	}
	b.t.Fatalf("download %s: %v", sel, errors.New("no end"))
	return nil
}

// noConsoleErrors fails the test if a page broke the Content-Security-
// Policy or threw.
func (b *tab) noConsoleErrors() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, m := range b.console {
		if strings.Contains(m, "Content Security Policy") || strings.HasPrefix(m, "exception") {
			b.t.Errorf("console: %s", m)
		}
	}
}
