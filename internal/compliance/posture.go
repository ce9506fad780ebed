package compliance

import "time"

// Status is the outcome of evaluating one control on one host instance.
type Status string

// The statuses Qualys reports for a posture record.
const (
	StatusPassed Status = "Passed"
	StatusFailed Status = "Failed"
	StatusError  Status = "Error"
)

// Technology is a platform a control is evaluated on, such as an operating
// system or a database release.
type Technology struct {
	ID   int64
	Name string
}

// Criticality is the weight Qualys gives a control: a label such as SERIOUS and
// its numeric value (0 to 5).
type Criticality struct {
	Label string
	Value int64
}

// Host is an asset as the posture stream describes it. Zero values mean the
// field was absent, empty or null in the source.
type Host struct {
	ID                     int64
	IP                     string
	TrackingMethod         string
	OS                     string
	OSCPE                  string
	DNS                    string
	QGHostID               string
	NetworkID              int64
	NetworkName            string
	ComplianceLastScanDate time.Time
	CustomerUUID           string
	CustomerID             int64
	AssetID                int64
}

// Posture is one posture record: the state of one control of one policy on one
// technology instance of one host. The fields are those of the PCRS postureInfo
// output; the classic API's posture is mapped onto the same shape.
//
// Dates are UTC; the zero time means the source gave "", null or no value.
// Evidence and CauseOfFailure hold the JSON the source sent, unchanged (nil
// when it sent none). Extra holds, as one JSON object, every top-level field
// pcsync does not model, so that newer API versions lose nothing.
type Posture struct {
	ID             int64
	Instance       string
	PolicyID       int64
	ControlID      int64
	TechnologyID   int64
	Status         Status
	PreviousStatus Status

	FirstFailDate       time.Time
	LastFailDate        time.Time
	FirstPassDate       time.Time
	LastPassDate        time.Time
	PostureModifiedDate time.Time
	LastEvaluatedDate   time.Time
	Created             time.Time

	Host        Host
	Technology  Technology
	Criticality Criticality

	Evidence       []byte
	CauseOfFailure []byte
	Extra          []byte

	// Classic posture info only: the exception on the record, and the
	// control's remediation text (stored with the control).
	Exception   *Exception
	Remediation string
}
