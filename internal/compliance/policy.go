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
}

// Control is a compliance check as far as pcsync knows it. PCRS records give
// its id and criticality; the classic control list adds the rest.
type Control struct {
	ID          int64
	Criticality Criticality
}
