package emulator

import (
	"fmt"
	"time"

	"pcsync/internal/compliance"
)

// Config sizes and seeds the estate the emulator serves. Two emulators with
// the same Config serve the same records, byte for byte.
type Config struct {
	Seed              int64
	Policies          int // active policies
	InactivePolicies  int // extra policies listed as inactive (not synced by default)
	Hosts             int // hosts in the subscription
	HostsPerPolicy    int // hosts each policy covers; 0 means all of them
	ControlsPerPolicy int
	DBSharePercent    int       // share of hosts that run Oracle instances (0-100)
	Epoch             time.Time // the time of scan cycle 0; dates are derived from it
	SubscriptionID    string
	// Each later scan cycle flips the status of FlipPermille records in a
	// thousand, and takes ChurnPercent of each policy's hosts out of it for
	// that cycle (they come back in a later one).
	FlipPermille int
	ChurnPercent int
	// The shape of a large estate (shape.go), all off by default: Shuffle
	// lists a postureInfo answer's records in an order unrelated to host,
	// control or id; ScatterIDs interleaves the record ids of all
	// policies; HostChurn varies a host's address, DNS name and scan date
	// from record to record, as when hosts are rescanned during a long run
	// (PCRS records carry their host; the classic glossary does not vary).
	Shuffle    bool
	ScatterIDs bool
	HostChurn  bool
}

// DefaultConfig is the estate `pcsync emulate` serves without flags: 5 active
// policies and one inactive, 200 hosts, 50 controls per policy.
func DefaultConfig() Config {
	return Config{
		Seed:              1,
		Policies:          5,
		InactivePolicies:  1,
		Hosts:             200,
		ControlsPerPolicy: 50,
		DBSharePercent:    20,
		Epoch:             time.Date(2026, 11, 1, 6, 0, 0, 0, time.UTC),
		SubscriptionID:    "7654321",
		FlipPermille:      40,
		ChurnPercent:      5,
	}
}

// Validate reports the first setting that cannot describe an estate.
func (c Config) Validate() error {
	switch {
	case c.Policies < 0 || c.InactivePolicies < 0 || c.Policies+c.InactivePolicies == 0:
		return fmt.Errorf("policies must be at least 1 (got %d active, %d inactive)", c.Policies, c.InactivePolicies)
	case c.Hosts < 1:
		return fmt.Errorf("hosts must be at least 1 (got %d)", c.Hosts)
	case c.HostsPerPolicy < 0 || c.HostsPerPolicy > c.Hosts:
		return fmt.Errorf("hosts per policy must be between 0 (all) and %d (got %d)", c.Hosts, c.HostsPerPolicy)
	case c.ControlsPerPolicy < 1:
		return fmt.Errorf("controls per policy must be at least 1 (got %d)", c.ControlsPerPolicy)
	case c.DBSharePercent < 0 || c.DBSharePercent > 100:
		return fmt.Errorf("database share must be between 0 and 100 percent (got %d)", c.DBSharePercent)
	case c.Epoch.IsZero():
		return fmt.Errorf("epoch must be set")
	case c.FlipPermille < 0 || c.FlipPermille > 1000 || c.ChurnPercent < 0 || c.ChurnPercent > 100:
		return fmt.Errorf("flips per thousand must be 0-1000 and churn 0-100%% (got %d and %d)", c.FlipPermille, c.ChurnPercent)
	}
	return nil
}

const (
	hostIDBase    = 10_000_001
	postureIDBase = 100_000_000
	maxInstances  = 4 // record id slots per host x control: "os" or up to 3 SIDs
	dbSlots       = maxInstances - 1
)

type control struct {
	id          int64
	db          bool // evaluated per Oracle instance rather than on the OS
	criticality compliance.Criticality
	topic       int
}

type policy struct {
	idx       int
	id        int64
	title     string
	active    bool
	locked    bool
	createdBy string
	created   time.Time
	modified  time.Time
	hostStart int
	hostCount int
	controls  []control
}

// Estate is a deterministic, generated Qualys subscription: policies, hosts,
// controls and the posture of every host against every control of every
// policy that covers it. Nothing per record is stored: records are computed
// from the seed when asked for, so an estate can describe millions of them.
type Estate struct {
	cfg          Config
	policies     []policy
	byID         map[int64]int
	customerUUID string
	customerID   int64
	cycles       []time.Time // cycles[c] is when scan cycle c happened
}

// NewEstate builds the estate cfg describes.
func NewEstate(cfg Config) (*Estate, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Epoch = cfg.Epoch.UTC().Truncate(time.Second)
	e := &Estate{cfg: cfg, byID: map[int64]int{}, cycles: []time.Time{cfg.Epoch}}
	e.customerUUID = uuidFrom(e.hash(0xC0570, 1, 2))
	e.customerID = 100000 + int64(e.hash(0xC0570, 3, 4)%900000)
	total := cfg.Policies + cfg.InactivePolicies
	perPolicy := cfg.HostsPerPolicy
	if perPolicy == 0 {
		perPolicy = cfg.Hosts
	}
	catalogue := cfg.ControlsPerPolicy*(total+1)/2 + cfg.ControlsPerPolicy
	for j := 0; j < total; j++ {
		p := policy{
			idx:       j,
			id:        4_100_000 + int64(j)*7 + int64(e.hash(0x9011C7, uint64(j), 0)%5),
			active:    j < cfg.Policies,
			locked:    j%3 == 1,
			createdBy: policyOwners[j%len(policyOwners)],
			hostStart: j * cfg.Hosts / total,
			hostCount: perPolicy,
		}
		p.title = policyTitles[j%len(policyTitles)]
		if j >= len(policyTitles) {
			p.title = fmt.Sprintf("%s (%d)", p.title, j/len(policyTitles)+1)
		}
		p.created = cfg.Epoch.Add(-time.Duration(400+e.hash(0x9011C7, uint64(j), 1)%600) * 24 * time.Hour)
		p.modified = p.created.Add(time.Duration(e.hash(0x9011C7, uint64(j), 2)%(300*24)) * time.Hour)
		for k := 0; k < cfg.ControlsPerPolicy; k++ {
			id := int64(1000 + (j*cfg.ControlsPerPolicy/2+k)%catalogue)
			p.controls = append(p.controls, e.control(id))
		}
		e.byID[p.id] = j
		e.policies = append(e.policies, p)
	}
	return e, nil
}

// Config returns the configuration the estate was built from.
func (e *Estate) Config() Config { return e.cfg }

func (e *Estate) control(id int64) control {
	h := e.hash(0xC047, uint64(id), 0)
	// with no database hosts in the estate, no control targets databases
	c := control{id: id, db: e.cfg.DBSharePercent > 0 && h%100 < 15, topic: int(h>>8) % len(controlTopics)}
	if c.db {
		c.topic = 6 // the database topic
	}
	pick := int(h>>16) % 100
	for _, cr := range criticalities {
		if pick < cr.share {
			c.criticality = compliance.Criticality{Label: cr.label, Value: cr.value}
			break
		}
		pick -= cr.share
	}
	return c
}

// hash mixes the estate's seed with up to three values (splitmix64 rounds).
func (e *Estate) hash(a, b, c uint64) uint64 {
	return mix(uint64(e.cfg.Seed) ^ mix(a^mix(b^mix(c))))
}

func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func uuidFrom(h uint64) string {
	g := mix(h)
	return fmt.Sprintf("%08x-%04x-4%03x-a%03x-%012x", uint32(h>>32), uint16(h>>16), uint16(h)&0xfff, uint16(g>>48)&0xfff, g&0xffffffffffff)
}

// Advance returns the estate one scan cycle later, the cycle happening at
// at (at least a second after the previous one): statuses flip and hosts
// leave and rejoin policies. The receiver is unchanged, so a stream under
// way keeps a consistent view.
func (e *Estate) Advance(at time.Time) *Estate {
	at = at.UTC().Truncate(time.Second)
	if last := e.Now(); !at.After(last) {
		at = last.Add(time.Second)
	}
	n := *e
	n.cycles = append(append([]time.Time(nil), e.cycles...), at)
	return &n
}

// Cycle returns the current scan cycle (0 until the estate is advanced).
func (e *Estate) Cycle() int { return len(e.cycles) - 1 }

// Now is the time of the current scan cycle.
func (e *Estate) Now() time.Time { return e.cycles[len(e.cycles)-1] }
