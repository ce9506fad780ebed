package app

import (
	"strings"
	"testing"

	"pcsync/internal/compliance"
	"pcsync/internal/engine"
)

// A policy title is Qualys's text: in the summary's table its control
// characters (a terminal's escape sequences, a newline, a tab) show as "?",
// so that it neither drives the terminal nor breaks the table.
func TestTheSummaryShowsNoControlCharacters(t *testing.T) {
	var b strings.Builder
	printSummary(&b, &engine.Result{Run: compliance.Run{ID: 1, Status: compliance.RunSucceeded},
		Policies: []compliance.PolicySummary{{PolicyID: 7, Title: "CIS\x1b[2J\x1b]0;pwned\x07 Linux\nnext\tcolumn"}}})
	out := b.String()
	if strings.ContainsFunc(out, func(r rune) bool { return r == 0x1b || r == 0x07 || r == '\t' }) {
		t.Fatalf("the summary carries control characters: %q", out)
	}
	if !strings.Contains(out, "CIS?[2J?]0;pwned? Linux?next?column") {
		t.Fatalf("the title is not shown with ? for its control characters:\n%s", out)
	}
}

// Hosts an interrupted run did not hear from are not blamed on Qualys: the
// run may not have asked them yet. A finished full run says they returned
// nothing.
func TestAnInterruptedSummaryDoesNotSayHostsReturnedNothing(t *testing.T) {
	for status, want := range map[compliance.RunStatus]string{
		compliance.RunInterrupted: "250 hosts not heard from before the interrupt",
		compliance.RunSucceeded:   "250 hosts returned no posture",
	} {
		var b strings.Builder
		printSummary(&b, &engine.Result{Run: compliance.Run{ID: 1, Status: status, Mode: compliance.ModeFull, Source: "pcrs"},
			Policies: []compliance.PolicySummary{{PolicyID: 7, Title: "CIS", HostsRequested: 300, HostsReturned: 50}}})
		if !strings.Contains(b.String(), want) {
			t.Errorf("a %s run's summary:\n%s\nwant %q", status, b.String(), want)
		}
	}
}
