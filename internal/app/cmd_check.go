package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"pcsync/internal/compliance"
	"pcsync/internal/config"
	"pcsync/internal/qualys"
)

// checkSample is how many hosts the posture sample asks for.
const checkSample = 20

func newCheckCmd(io IOStreams) *cobra.Command {
	o := &syncOptions{}
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Check the URLs, credentials and API access a sync needs, read-only",
		Long: `Check answers, in a few read-only calls, what a first sync needs to know: are
the URLs right, do the credentials work, which APIs does this account reach
(gateway login, PCRS policy list, host ids and posture; classic policy list,
control list and posture info; the platform's version from /msp/about.php),
what rate and concurrency limits Qualys announces, how many policies and
hosts a sync would touch, and about how long it would take, from the
throughput of a small posture sample.

It prints a table, then one line per failure saying what to fix, and exits
non-zero when something a sync needs is unreachable. It takes the flags and
the config file of pcsync sync, and writes nothing.`,
		Example: `  QUALYS_USERNAME=me QUALYS_PASSWORD=... pcsync check --platform US1
  pcsync check --config pcsync.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return checkRun(cmd, io, o)
		},
		Annotations: map[string]string{"exit-codes": `  0    everything a sync needs answered
  1    unexpected error
  2    bad flags, configuration or missing credentials (nothing was asked)
  3    Qualys refused the credentials
  4    something a sync needs is unreachable or refused, or answers what a sync
       would report as failed: a policy Qualys does not list, records that do not
       decode (see the lines below the table)`},
	}
	o.registerQualysFlags(cmd.Flags())
	o.log.register(cmd.Flags())
	return cmd
}

// checkRow is one line of the table; problem is set when it failed.
type checkRow struct {
	name, result string
	problem      string
	needed, auth bool
}

// checker runs the checks in order, each on what the earlier found.
type checker struct {
	c          *qualys.Client
	cfg        *config.Config
	gw, api    string
	rows       []checkRow
	policies   []compliance.Policy // those a sync would touch
	hosts      map[string]struct{} // distinct hosts of those policies
	hostsTotal int                 // hosts summed over policies
	perHost    float64             // records per host in the sample
	rate       float64             // records per second in the sample
	calls      int                 // postureInfo calls a sync would make
	listed     bool                // the policies asked for were checked against a list
}

func checkRun(cmd *cobra.Command, io IOStreams, o *syncOptions) error {
	cfg, err := o.resolveConfig(cmd)
	if err != nil {
		return err
	}
	log := newLogger(io, cfg.Log, true)
	copts := clientOptions(&cfg)
	copts.Logger = log
	// answer quickly: one retry of a transient failure, no waits on limits
	copts.MaxRetries, copts.MaxRateWaits = 1, 0
	copts.Backoff = func(int) time.Duration { return 500 * time.Millisecond }
	client, err := qualys.NewClient(copts)
	if err != nil {
		return withCode(ExitUsage, err)
	}
	ch := &checker{c: client, cfg: &cfg, hosts: map[string]struct{}{}}
	ch.gw, ch.api, _ = cfg.Endpoints()
	ctx := cmd.Context()
	ch.add(checkRow{name: "gateway URL", result: orNone(ch.gw)})
	ch.add(checkRow{name: "classic API URL", result: orNone(ch.api)})
	if ch.gw != "" {
		ch.gateway(ctx)
	}
	if ch.api != "" {
		ch.classic(ctx)
	}
	ch.estimate()
	return ch.report(io)
}

func orNone(s string) string {
	if s == "" {
		return "not configured"
	}
	return s
}

func (ch *checker) add(r checkRow) { ch.rows = append(ch.rows, r) }

// fail records a check that failed with err.
func (ch *checker) fail(name string, needed bool, base string, err error) {
	var auth *qualys.AuthError
	ch.add(checkRow{name: name, result: "FAILED", problem: explain(base, err), needed: needed, auth: errors.As(err, &auth)})
}

// gateway checks the login, the policy list, the host ids and a posture sample.
func (ch *checker) gateway(ctx context.Context) {
	if err := ch.c.Login(ctx); err != nil {
		ch.fail("gateway login", true, ch.gw, err)
		return
	}
	ch.add(checkRow{name: "gateway login", result: "ok"})
	pols, _, err := ch.c.PCRS.ListPolicies(ctx, nil)
	if err != nil {
		ch.fail("PCRS policy list", true, ch.gw, err)
		return
	}
	ch.policies = selectPolicies(pols, ch.cfg.Sync.Policies)
	ch.add(checkRow{name: "PCRS policy list", result: fmt.Sprintf("ok: %d policies, %d to sync", len(pols), len(ch.policies))})
	ch.unlisted("PCRS policy list", pols)
	rl := ch.cfg.PCRS.RateLimit
	ch.add(checkRow{name: "PCRS limits", result: fmt.Sprintf("%d calls per %s per API, as configured (Qualys's default; the gateway announces none until a 429)", rl.Calls, rl.Window)})
	var groups []compliance.PolicyHosts
	for i := 0; i < len(ch.policies); i += qualys.MaxPoliciesPerHostIDs {
		var ids []int64
		for _, p := range ch.policies[i:min(i+qualys.MaxPoliciesPerHostIDs, len(ch.policies))] {
			ids = append(ids, p.ID)
		}
		res, err := ch.c.PCRS.HostIDs(ctx, ids, nil)
		if err != nil {
			ch.fail("PCRS host ids", true, ch.gw, err)
			return
		}
		groups = append(groups, res...)
	}
	for _, g := range groups {
		if g.Error != "" {
			ch.add(checkRow{name: "PCRS host ids", result: "FAILED", needed: true, problem: fmt.Sprintf(
				"Qualys answered for policy %d: %s; a sync would report the policy as failed and exit 5", g.PolicyID, g.Error)})
		}
		for _, h := range g.HostIDs {
			ch.hosts[h] = struct{}{}
		}
		ch.hostsTotal += len(g.HostIDs)
		ch.calls += (len(g.HostIDs) + ch.cfg.Sync.HostsPerRequest - 1) / ch.cfg.Sync.HostsPerRequest
	}
	ch.add(checkRow{name: "PCRS host ids", result: fmt.Sprintf("ok: %d hosts in %d policies", len(ch.hosts), len(groups))})
	ch.postureSample(ctx, groups)
}

// postureSample streams the posture of a few hosts of the first policy that
// has some, to measure records per host and records per second.
func (ch *checker) postureSample(ctx context.Context, groups []compliance.PolicyHosts) {
	var sample compliance.PolicyHosts
	for _, g := range groups {
		if len(g.HostIDs) > 0 {
			sample = g
			sample.HostIDs = g.HostIDs[:min(len(g.HostIDs), checkSample)]
			break
		}
	}
	if len(sample.HostIDs) == 0 {
		ch.add(checkRow{name: "PCRS posture", result: "not tried: no policy has hosts"})
		return
	}
	r := ch.cfg.PCRS.Results
	start := time.Now()
	s, err := ch.c.PCRS.Posture(ctx, &qualys.PostureRequest{Policies: []compliance.PolicyHosts{sample},
		Evidence: r.EvidenceRequired != nil && *r.EvidenceRequired == 1, Compression: r.CompressionRequired == nil || *r.CompressionRequired == 1})
	n, bad := 0, 0
	var firstBad *qualys.RecordError
	if err == nil {
		defer s.Close()
		var p compliance.Posture
		var re *qualys.RecordError
		for err = s.Next(&p); err == nil || errors.As(err, &re); err = s.Next(&p) {
			n++
			if err != nil {
				bad++
				firstBad = cmp.Or(firstBad, re)
			}
		}
		if err == io.EOF {
			err = nil
		}
	}
	if err != nil {
		ch.fail("PCRS posture", true, ch.gw, err)
		return
	}
	took := time.Since(start)
	if bad > 0 {
		ch.add(checkRow{name: "PCRS posture", result: "FAILED", needed: true, problem: fmt.Sprintf(
			"%d of the sample's %d records of policy %d do not decode (first: %v); a sync would set them aside in its rejects file and exit 5: report the records to Qualys",
			bad, n, sample.PolicyID, firstBad)})
		return
	}
	ch.perHost = float64(n) / float64(len(sample.HostIDs))
	ch.rate = float64(n) / max(took.Seconds(), 0.001)
	ch.add(checkRow{name: "PCRS posture", result: fmt.Sprintf("ok: %d records for %d hosts of policy %d in %s",
		n, len(sample.HostIDs), sample.PolicyID, took.Round(time.Millisecond))})
}

// unlisted fails the check when the policies asked for (--policy,
// sync.policies) include some the policy list does not have: a sync would
// report each as failed. It runs once, on the first list read.
func (ch *checker) unlisted(list string, pols []compliance.Policy) {
	if ch.listed {
		return
	}
	ch.listed = true
	var missing []string
	for _, id := range ch.cfg.Sync.Policies {
		if !slices.ContainsFunc(pols, func(p compliance.Policy) bool { return p.ID == id }) {
			missing = append(missing, strconv.FormatInt(id, 10))
		}
	}
	if len(missing) == 0 {
		return
	}
	ch.add(checkRow{name: "policies asked for", result: "FAILED", needed: true, problem: fmt.Sprintf(
		"the %s has no policy %s (of %d policies): a sync would report each as failed and exit 5; check --policy or sync.policies",
		list, strings.Join(missing, ", "), len(pols))})
}

// selectPolicies is what a sync would touch: the policies asked for, or
// every active one.
func selectPolicies(all []compliance.Policy, asked []int64) []compliance.Policy {
	var out []compliance.Policy
	for _, p := range all {
		if len(asked) == 0 && p.Active() || slices.Contains(asked, p.ID) {
			out = append(out, p)
		}
	}
	return out
}
