package compliance

import (
	"strings"
	"time"
)

// Policy is a compliance policy as the policy list describes it.
type Policy struct {
	ID                int64
	Title             string
	CreatedBy         string
	CreatedDate       time.Time
	ModifiedBy        string
	ModifiedDate      time.Time
	LastEvaluatedDate time.Time
	Status            string // "active" or "inactive"
	Locked            bool
}

// Active reports whether Qualys lists the policy as active. The comparison
// ignores case because samples show both "active" and "Active".
func (p Policy) Active() bool {
	return strings.EqualFold(p.Status, "active")
}

// PolicyHosts is the answer of host id resolution for one policy: the host
// ids to ask posture for, or the error Qualys reported for the policy.
//
// HostIDs are kept as Qualys sent them (strings in the documented samples),
// because they are passed back verbatim in the postureInfo request.
type PolicyHosts struct {
	PolicyID       int64
	SubscriptionID string
	HostIDs        []string
	Error          string
	// BadHostIDs are entries of the answer that are not host ids; they are
	// left out (and reported), the others are used.
	BadHostIDs []string
}

// Control is a compliance check as far as pcsync knows it. PCRS records give
// its id and criticality; the classic control list adds the rest.
type Control struct {
	ID          int64
	Criticality Criticality

	Category    string
	SubCategory string
	Statement   string
	CheckType   string
	Comment     string
	Active      bool
	UserDefined bool
	Created     time.Time
	Updated     time.Time
	// Remediation comes from classic posture info (show_remediation_info=1).
	Remediation  string
	Technologies []ControlTechnology
	Frameworks   []FrameworkReference
}

// ControlTechnology is how one control applies to one technology: why it
// matters (rationale) and, in a policy, what is expected (Evaluate) and how
// to fix a failure.
type ControlTechnology struct {
	TechnologyID int64
	Name         string
	Rationale    string
	Remediation  string
	Description  string
	Evaluate     string // the expected-value expression of the policy
}

// Framework is a compliance framework or mandate (CIS Controls, NIST 800-53...).
type Framework struct {
	ID   int64
	Name string
}

// FrameworkReference maps a control to a section of a framework.
type FrameworkReference struct {
	FrameworkID   int64
	FrameworkName string
	Reference     string // the framework's section, e.g. "5.2.8"
	Comments      string
}

// PolicyDetail is a policy as the classic policy export describes it: its
// technologies and its sections, each with the controls it contains.
type PolicyDetail struct {
	PolicyID     int64
	Title        string
	Status       string
	CoverPage    string
	Exported     time.Time
	Technologies []Technology
	Sections     []Section
	Frameworks   []FrameworkControls // from the appendix, when asked for
}

// Section is one section of a policy.
type Section struct {
	Number   int64
	Heading  string
	Controls []PolicyControl
}

// PolicyControl is a control as a policy uses it: its criticality there,
// whether it is disabled, and per technology what the policy expects.
type PolicyControl struct {
	ControlID     int64
	Criticality   Criticality
	ReferenceText string
	Disabled      bool
	UserDefined   bool
	Statement     string // user-defined controls carry their own statement
	Technologies  []ControlTechnology
}

// FrameworkControls is one framework with the controls it maps, from a
// policy export's appendix.
type FrameworkControls struct {
	Framework Framework
	Controls  []FrameworkControl
}

// FrameworkControl is one control a framework maps, and where.
type FrameworkControl struct {
	ControlID int64
	Reference string
	Comments  string
}

// Exception is an exception granted on a posture (classic posture info).
type Exception struct {
	Assignee     string
	Status       string // e.g. Approved, Pending, Rejected, Expired
	Comments     string
	CreatedBy    string
	CreatedDate  time.Time
	ModifiedBy   string
	ModifiedDate time.Time
	EndDate      time.Time
}
