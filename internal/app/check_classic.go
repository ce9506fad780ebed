package app

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"pcsync/internal/compliance"
	"pcsync/internal/qualys"
)

// errEnough stops a paged listing after its first page.
var errEnough = errors.New("first page read")

// classic checks the platform version, the policy list, the control list,
// a posture page, and the limits the classic API announces.
func (ch *checker) classic(ctx context.Context) {
	if a, err := ch.c.About(ctx); err != nil {
		ch.fail("platform (about.php)", false, ch.api, err)
	} else {
		ch.add(checkRow{name: "platform (about.php)", result: fmt.Sprintf("web %s, API %s, scanner %s", a.WebVersion, a.APIVersion, a.ScannerVersion)})
	}
	pols, err := ch.c.Classic.ListPolicies(ctx, url.Values{"details": {"None"}})
	if err != nil {
		ch.fail("classic policy list", true, ch.api, err)
		return
	}
	ch.add(checkRow{name: "classic policy list", result: fmt.Sprintf("ok: %d policies", len(pols))})
	ch.unlisted("classic policy list", pols)
	first := func([]compliance.Control, []*qualys.RecordError) error { return errEnough }
	if err := ch.c.Classic.ListControls(ctx, url.Values{"details": {"None"}, "truncation_limit": {"1"}}, first); !errors.Is(err, errEnough) {
		ch.fail("classic control list", true, ch.api, err)
	} else {
		ch.add(checkRow{name: "classic control list", result: "ok"})
	}
	ch.classicPosture(ctx, pols)
	if rl := ch.c.LastRateLimit(); rl.Present {
		ch.add(checkRow{name: "classic limits", result: fmt.Sprintf("%d calls per %s, %d left, wait %d s; %d at once, %d running (this call included)",
			rl.Limit, time.Duration(rl.WindowSec)*time.Second, rl.Remaining, rl.ToWaitSec, rl.ConcurrencyLimit, rl.ConcurrencyRunning)})
	} else {
		ch.add(checkRow{name: "classic limits", result: "not announced (no X-RateLimit-* headers)"})
	}
}

// classicPosture reads one small page of posture info for a policy a sync
// would touch (the first of the classic list when the gateway is unknown).
func (ch *checker) classicPosture(ctx context.Context, pols []compliance.Policy) {
	var id int64
	switch {
	case len(ch.policies) > 0:
		id = ch.policies[0].ID
	case len(ch.cfg.Sync.Policies) > 0:
		id = ch.cfg.Sync.Policies[0]
	case len(pols) > 0:
		id = pols[0].ID
	default:
		ch.add(checkRow{name: "classic posture info", result: "not tried: no policy"})
		return
	}
	n := 0
	var rejects []*qualys.RecordError
	err := ch.c.Classic.PostureInfo(ctx, id, 0, url.Values{"details": {"Basic"}, "truncation_limit": {"10"}}, func(p *qualys.PostureInfoPage) error {
		n, rejects = len(p.Records), p.Rejects
		return errEnough
	})
	needed := ch.cfg.Sync.Source == "classic" || ch.gw == ""
	if !errors.Is(err, errEnough) {
		ch.fail("classic posture info", needed, ch.api, err)
		return
	}
	if len(rejects) > 0 {
		ch.add(checkRow{name: "classic posture info", result: "FAILED", needed: needed, problem: fmt.Sprintf(
			"%d of the first page's %d records of policy %d do not decode (first: %v); a sync would set them aside in its rejects file and exit 5: report the records to Qualys",
			len(rejects), n+len(rejects), id, rejects[0])})
		return
	}
	ch.add(checkRow{name: "classic posture info", result: fmt.Sprintf("ok: %d records on a first page of policy %d", n, id)})
}

// estimate says what a sync would touch and about how long it would take:
// the sample's records per host over every host of every policy, at the
// sample's pace, and no faster than the PCRS budget allows the calls.
func (ch *checker) estimate() {
	if ch.gw == "" {
		ch.add(checkRow{name: "a sync would touch", result: "unknown without the gateway (host ids come from PCRS)"})
		return
	}
	if ch.rate == 0 {
		return
	}
	// each policy's hosts carry the sample's records per host
	records := ch.perHost * float64(ch.hostsTotal)
	ch.add(checkRow{name: "a sync would touch", result: fmt.Sprintf("%d policies, %d hosts, about %s records in %d postureInfo calls",
		len(ch.policies), len(ch.hosts), thousands(int64(records)), ch.calls)})
	d := time.Duration(records / (ch.rate * float64(ch.cfg.Sync.Concurrency)) * float64(time.Second))
	rl := ch.cfg.PCRS.RateLimit
	if rl.Calls > 0 && ch.calls > rl.Calls {
		d = max(d, time.Duration(ch.calls/rl.Calls)*rl.Window)
	}
	ch.add(checkRow{name: "estimated duration", result: fmt.Sprintf("about %s (sample: %s records/s per stream, %d streams; PCRS budget %d calls per %s)",
		roundDuration(d), thousands(int64(ch.rate)), ch.cfg.Sync.Concurrency, rl.Calls, rl.Window)})
}

func roundDuration(d time.Duration) string {
	switch {
	case d > time.Hour:
		return d.Round(time.Minute).String()
	case d > time.Minute:
		return d.Round(time.Second).String()
	case d < time.Second:
		return "a second"
	}
	return d.Round(100 * time.Millisecond).String()
}

// thousands writes n with comma separators.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
