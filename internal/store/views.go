package store

import (
	"context"
	"math"
	"time"

	"pcsync/internal/compliance"
)

// Views is the read model of pcsync serve: figures and lists over current
// postures (stale ones left out), each an indexed lookup of the counts the
// sync keeps, never a scan of the posture table.
//
// Lists take a Page and call fn for each row in the list's order; they
// return the cursor of the next page, "" after the last. A cursor is a
// keyset position (never an offset), so that a page deep in a list costs
// what the first does, and a list ordered by ids neither misses nor repeats
// a row while a sync writes. Limit 0 streams the whole list.
type Views interface {
	// Summary is the estate's figures and the last run.
	Summary(ctx context.Context) (*Summary, error)
	// Overview is the Summary and the figures per criticality and per
	// technology, read together (the overview page shows both).
	Overview(ctx context.Context) (*Summary, *Breakdown, error)
	// ListPolicies lists policies by id with their figures.
	ListPolicies(ctx context.Context, page Page, fn func(*PolicyFigures) error) (string, error)
	// Policy is one policy with its sections, technologies and frameworks;
	// ErrNotFound if there is no such policy.
	Policy(ctx context.Context, id int64) (*PolicyView, error)
	// ListPolicyControls lists the controls of a policy worst first (most
	// failed, then most in error, then by id).
	ListPolicyControls(ctx context.Context, policyID int64, f ControlFilter, page Page, fn func(*ControlFigures) error) (string, error)
	// Control is one control with its texts per technology, framework
	// references and figures per policy; ErrNotFound if unknown.
	Control(ctx context.Context, id int64) (*ControlView, error)
	// FailingValues groups the failing current postures of a control (in
	// one policy, or in all when policyID is 0) by what was found instead
	// of the expected value, most hosts first.
	FailingValues(ctx context.Context, controlID, policyID int64, limit int) ([]ValueGroup, error)
	// ListPostures lists current postures in (policy, host, control, id)
	// order.
	ListPostures(ctx context.Context, f PostureFilter, page Page, fn func(*PostureView) error) (string, error)
	// ListHosts lists hosts by id with their figures (in one policy, or in
	// all).
	ListHosts(ctx context.Context, f HostFilter, page Page, fn func(*HostFigures) error) (string, error)
	// Host is one host with its figures; ErrNotFound if unknown.
	Host(ctx context.Context, id int64) (*HostFigures, error)
	// HostNames names hosts by id: each one's DNS name, else its address
	// (unknown ids are left out). Pages name the hosts of their rows with
	// it, all in one read.
	HostNames(ctx context.Context, ids []int64) (map[int64]string, error)
	// ControlStatements are the statements of controls by id (unknown ids
	// are left out), for pages to name the controls of their rows.
	ControlStatements(ctx context.Context, ids []int64) (map[int64]string, error)
	// HostChanges lists the status changes of a host's postures, latest first.
	HostChanges(ctx context.Context, hostID int64, limit int) ([]compliance.StatusChange, error)
	// ListFrameworks lists frameworks by id with the figures of the
	// controls mapped to them.
	ListFrameworks(ctx context.Context, page Page, fn func(*FrameworkFigures) error) (string, error)
	// ListRuns lists runs, latest first.
	ListRuns(ctx context.Context, page Page, fn func(*compliance.Run) error) (string, error)
	// Run is one run; ErrNotFound if unknown.
	Run(ctx context.Context, id int64) (*compliance.Run, error)
	// ListChanges lists the status changes that runs after from, up to and
	// including to, recorded: newly failing first, then newly in error,
	// then newly passing, each in the order they were seen.
	ListChanges(ctx context.Context, f ChangeFilter, page Page, fn func(*compliance.StatusChange) error) (string, error)
	// Trend is the figures recorded at the end of each finished run (of
	// one policy and/or framework, 0 for all), oldest first.
	Trend(ctx context.Context, policyID, frameworkID int64) ([]TrendPoint, error)
	// ListExceptions lists the exceptions on current postures (of a status, when
	// f.Status is set) with each posture's keys and status: those ending
	// at or after f.Now by end date, soonest first (those expiring within
	// days lead), then those that ended before f.Now, the latest first, then
	// those without an end date. A zero f.Now lists every dated exception
	// soonest first.
	ListExceptions(ctx context.Context, f ExceptionFilter, page Page, fn func(*ExceptionView) error) (string, error)
	// UnscannedHosts counts the hosts with current postures whose last
	// compliance scan is before t, or is not known (Qualys gave no date).
	UnscannedHosts(ctx context.Context, before time.Time) (int64, error)
}

// Page asks for one page of a list.
type Page struct {
	Limit int    // rows at most; 0 is every row
	After string // the cursor a previous page returned; "" is the start
}

// ErrBadCursor is returned by lists given a cursor they did not make.
var ErrBadCursor = errorString("not a cursor of this list")

type errorString string

func (e errorString) Error() string { return string(e) }

// Figures counts current postures by status.
type Figures struct {
	Passed, Failed, Errors int64
}

// Total is the number of postures counted.
func (f Figures) Total() int64 { return f.Passed + f.Failed + f.Errors }

// CompliancePct is 100 * passed / (passed + failed + error), rounded to two
// decimals; nil when there is nothing to count.
func (f Figures) CompliancePct() *float64 {
	if f.Total() == 0 {
		return nil
	}
	pct := math.Round(10000*float64(f.Passed)/float64(f.Total())) / 100
	return &pct
}

// Add adds o to f.
func (f *Figures) Add(o Figures) {
	f.Passed += o.Passed
	f.Failed += o.Failed
	f.Errors += o.Errors
}

// Summary is the figures of the whole estate.
type Summary struct {
	Figures
	Policies, Hosts, Controls int64 // with current postures
	StalePostures             int64
	LastRun                   *compliance.Run // nil before the first
}

// Breakdown is the estate's figures by criticality and by technology.
type Breakdown struct {
	Criticality []CriticalityFigures // highest first
	Technology  []TechnologyFigures  // by name
}

// CriticalityFigures are the figures of the controls of one criticality.
type CriticalityFigures struct {
	compliance.Criticality
	Figures
}

// TechnologyFigures are the figures of one technology.
type TechnologyFigures struct {
	compliance.Technology
	Figures
}

// PolicyFigures is a policy with its figures.
type PolicyFigures struct {
	ID     int64
	Title  string
	Status string
	Hosts  int64 // with current postures in the policy
	Figures
}

// PolicyView is one policy in full.
type PolicyView struct {
	PolicyFigures
	Policy       compliance.Policy
	Sections     []SectionFigures
	Technologies []TechnologyFigures
	Frameworks   []FrameworkFigures
}

// SectionFigures is a section of a policy export with its figures.
type SectionFigures struct {
	Number   int64
	Heading  string
	Controls int64
	Figures
}

// ControlFilter narrows a policy's control list; zero values do not filter.
type ControlFilter struct {
	Status      compliance.Status // controls with at least one posture in this status
	Criticality int64             // criticality value 0-5; -1 means none
	Technology  int64
	Section     int64 // section number; -1 means none
}

// ControlFigures is a control of a policy with its figures.
type ControlFigures struct {
	ControlID      int64
	Statement      string
	Criticality    compliance.Criticality
	SectionNumber  int64 // 0 when the policy export did not place it
	SectionHeading string
	Figures
}

// ControlView is one control in full.
type ControlView struct {
	Control  compliance.Control
	Figures  Figures
	Policies []PolicyFigures // the figures of the control in each policy
	// PolicyTexts are what each policy's export says of the control per
	// technology (rationale, remediation, the expected value).
	PolicyTexts []PolicyControlText
}

// PolicyControlText is a policy's text for a control on one technology.
type PolicyControlText struct {
	PolicyID int64
	compliance.ControlTechnology
}

// ValueGroup is the failing hosts of a control that report the same value.
type ValueGroup struct {
	Value         string // what was found (JSON text of the values), or "missing: ..."
	Hosts         int64
	Postures      int64
	OldestFailure time.Time // the earliest first_fail_date of the group
}

// PostureFilter narrows the posture list; zero values do not filter.
type PostureFilter struct {
	Policy, Control, Host, Technology int64
	Framework                         int64             // controls mapped to this framework
	Section                           int64             // with Policy: the controls of this section of the policy (its number)
	Criticality                       string            // the posture's criticality label
	Status                            compliance.Status //
	Since                             time.Time         // posture_modified_date at or after
	Excepted                          bool              // only postures with an exception
}

// PostureView is a current posture as the API shows it.
type PostureView struct {
	compliance.Posture
	Exception *compliance.Exception
}

// HostFilter narrows the host list; zero values do not filter.
type HostFilter struct {
	Policy int64
	Status compliance.Status // hosts with at least one posture in this status
	Q      string            // a substring of the host's ip, dns or os
	// ScannedBefore, when set, keeps the hosts whose last compliance scan
	// is before it or unknown (those UnscannedHosts counts).
	ScannedBefore time.Time
}

// HostFigures is a host with its figures.
type HostFigures struct {
	compliance.Host
	Figures
}

// FrameworkFigures is a framework with the figures of its controls.
type FrameworkFigures struct {
	ID       int64
	Name     string
	Controls int64
	Figures
}

// ChangeFilter says which runs' changes to list, and which.
type ChangeFilter struct {
	From, To int64             // after run From, up to and including run To
	Status   compliance.Status // the new status; "" is any
}

// TrendPoint is the figures at the end of one run.
type TrendPoint struct {
	Run compliance.Run
	Figures
}

// ExceptionFilter narrows and orders the exception list.
type ExceptionFilter struct {
	Status string    // the exception's status (Approved, Pending, ...); "" is any
	Now    time.Time // where the ended exceptions begin
}

// ExceptionView is an exception on a posture, with the posture's keys.
type ExceptionView struct {
	PostureID, PolicyID, HostID, ControlID int64
	Status                                 compliance.Status // the posture's
	compliance.Exception
}
