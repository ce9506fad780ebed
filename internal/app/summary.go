package app

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"pcsync/internal/compliance"
	"pcsync/internal/engine"
)

// printSummary writes the run's outcome and its per-policy table.
func printSummary(w io.Writer, res *engine.Result) {
	r := res.Run
	d := res.Elapsed
	rate, n := 0.0, r.Records
	if res.Resumed {
		n = res.Fetched
	}
	if d > 0 {
		rate = float64(n) / d.Seconds()
	}
	format := "JSON"
	if r.Source == "classic" {
		format = "XML"
	}
	if res.Resumed { // the run's totals span its invocations; the rate is this one's
		fmt.Fprintf(w, "Run %d %s: %d records in all; this invocation fetched %d in %s (%.0f/s), %s of %s, %s received in all\n",
			r.ID, r.Status, r.Records, res.Fetched, d.Round(10*time.Millisecond), rate, bytesHuman(r.DataBytes), format, bytesHuman(r.WireBytes))
	} else {
		fmt.Fprintf(w, "Run %d %s in %s: %d records (%.0f/s), %s of %s, %s received\n",
			r.ID, r.Status, d.Round(10*time.Millisecond), r.Records, rate, bytesHuman(r.DataBytes), format, bytesHuman(r.WireBytes))
	}
	mode := r.Mode + " run"
	if r.Mode == "incremental" {
		mode += " (changes since " + r.Since.UTC().Format(time.RFC3339) + ")"
	}
	if res.Resumed {
		mode += fmt.Sprintf(", resumed (%d)", r.Resumed)
	}
	fmt.Fprintf(w, "  %s, source %s\n", mode, r.Source)
	if r.Message != "" && r.Status != "succeeded" {
		fmt.Fprintf(w, "  %s\n", r.Message)
	}
	for _, s := range res.Skipped {
		fmt.Fprintf(w, "  skipped: %s\n", s)
	}
	if len(res.Policies) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "POLICY\tTITLE\tHOSTS ASKED\tHOSTS RETURNED\tRECORDS\tPASSED\tFAILED\tERROR\tPROBLEM")
	for _, p := range res.Policies {
		problem := p.Error
		asked := "-" // classic posture is listed per policy, without host ids
		if r.Source != "classic" {
			asked = fmt.Sprint(p.HostsRequested)
			// an incremental run hears only from hosts with changes
			switch {
			case problem != "" || p.HostsReturned >= p.HostsRequested:
			case r.Status == compliance.RunInterrupted: // not asked yet, as far as anyone knows
				problem = fmt.Sprintf("%d hosts not heard from before the interrupt", p.HostsRequested-p.HostsReturned)
			case r.Mode != "incremental":
				problem = fmt.Sprintf("%d hosts returned no posture", p.HostsRequested-p.HostsReturned)
			}
		}
		if p.Rejects > 0 {
			problem = strings.TrimPrefix(problem+fmt.Sprintf("; %d records rejected", p.Rejects), "; ")
		}
		if p.StaleHosts > 0 || p.StalePostures > 0 {
			problem = strings.TrimPrefix(problem+fmt.Sprintf("; %d hosts left the policy, %d postures stale", p.StaleHosts, p.StalePostures), "; ")
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\n", p.PolicyID, truncate(p.Title, 48), asked,
			p.HostsReturned, p.Records, p.Passed, p.Failed, p.Errors, truncate(problem, 80))
	}
	tw.Flush()
}

// truncate shortens s to n characters for a table on a terminal, with its
// control characters (escape sequences, newlines) shown as "?": a title
// comes from Qualys, and must neither drive the terminal nor break the
// table.
func truncate(s string, n int) string {
	s = strings.Map(func(c rune) rune {
		if unicode.IsControl(c) {
			return '?'
		}
		return c
	}, s)
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func bytesHuman(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
