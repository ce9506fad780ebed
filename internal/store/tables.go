package store

import "strings"

// Type is how a column's values are typed in every implementation, and how
// Reader.Rows passes them: a NULL is nil, otherwise
//
//	Int   int64
//	Text  string
//	Time  time.Time (UTC)
//	Bool  bool
//	JSON  []byte, a JSON document as stored
type Type uint8

// Column types.
const (
	Int Type = iota
	Text
	Time
	Bool
	JSON
)

func (t Type) String() string {
	return [...]string{"int", "text", "time", "bool", "json"}[t]
}

// Column is one column of a table.
type Column struct {
	Name string
	Type Type
}

// Table describes one table of the schema: what pcsync export writes, what
// pcsync migrate copies, what a checksum covers. Rows stream in Key order.
type Table struct {
	Name    string
	Columns []Column
	Key     []string // the primary key, which is also the order rows stream in
}

// Field is the column's name as exports write it: camelCase.
func (c Column) Field() string {
	parts := strings.Split(c.Name, "_")
	for i := 1; i < len(parts); i++ {
		if parts[i] != "" {
			parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
		}
	}
	return strings.Join(parts, "")
}

// TableNamed returns the registry's table called name, or nil.
func TableNamed(name string) *Table {
	for i := range Tables {
		if Tables[i].Name == name {
			return &Tables[i]
		}
	}
	return nil
}

// cols builds columns from "name type" pairs, one string per column.
func cols(spec ...string) []Column {
	types := map[string]Type{"int": Int, "text": Text, "time": Time, "bool": Bool, "json": JSON}
	out := make([]Column, len(spec))
	for i, s := range spec {
		name, typ, _ := strings.Cut(s, " ")
		t, ok := types[typ]
		if !ok {
			panic("store: column " + s + ": unknown type")
		}
		out[i] = Column{Name: name, Type: t}
	}
	return out
}

// Tables is the registry: every table of the schema, catalogue first, then
// posture, then the ledger. Adding a table to the schema is adding it here
// (a test compares this list with each implementation's schema).
var Tables = []Table{
	{Name: "policies", Key: []string{"id"}, Columns: cols("id int", "title text", "created_by text", "created_date time",
		"modified_by text", "modified_date time", "last_evaluated_date time", "status text", "locked bool",
		"first_run int", "last_run int", "cover_page text", "exported time")},
	{Name: "technologies", Key: []string{"id"}, Columns: cols("id int", "name text")},
	{Name: "controls", Key: []string{"id"}, Columns: cols("id int", "criticality_label text", "criticality_value int",
		"category text", "sub_category text", "statement text", "check_type text", "comment text", "is_active bool",
		"user_defined bool", "created_date time", "update_date time", "remediation text")},
	{Name: "control_technologies", Key: []string{"control_id", "technology_id"},
		Columns: cols("control_id int", "technology_id int", "rationale text")},
	{Name: "frameworks", Key: []string{"id"}, Columns: cols("id int", "name text")},
	{Name: "control_frameworks", Key: []string{"control_id", "framework_id", "reference"},
		Columns: cols("control_id int", "framework_id int", "reference text", "comments text")},
	{Name: "policy_technologies", Key: []string{"policy_id", "technology_id"}, Columns: cols("policy_id int", "technology_id int")},
	{Name: "sections", Key: []string{"policy_id", "number"}, Columns: cols("policy_id int", "number int", "heading text")},
	{Name: "policy_controls", Key: []string{"policy_id", "control_id"}, Columns: cols("policy_id int", "control_id int",
		"section_number int", "position int", "criticality_label text", "criticality_value int", "reference_text text",
		"disabled bool", "user_defined bool")},
	{Name: "policy_control_technologies", Key: []string{"policy_id", "control_id", "technology_id"},
		Columns: cols("policy_id int", "control_id int", "technology_id int", "rationale text", "remediation text",
			"description text", "evaluate text")},
	{Name: "hosts", Key: []string{"id"}, Columns: cols("id int", "ip text", "tracking_method text", "os text", "os_cpe text",
		"dns text", "qg_host_id text", "network_id int", "network_name text", "compliance_last_scan_date time",
		"customer_uuid text", "customer_id int", "asset_id int", "last_run int")},
	{Name: "postures", Key: []string{"policy_id", "id"}, Columns: cols("policy_id int", "id int", "host_id int", "control_id int",
		"technology_id int", "instance text", "status text", "previous_status text", "first_fail_date time",
		"last_fail_date time", "first_pass_date time", "last_pass_date time", "posture_modified_date time",
		"last_evaluated_date time", "created time", "criticality_label text", "criticality_value int", "evidence json",
		"cause_of_failure json", "extra json", "first_run int", "last_run int", "stale_run int")},
	{Name: "exceptions", Key: []string{"posture_id"}, Columns: cols("posture_id int", "assignee text", "status text",
		"comments text", "created_by text", "created_date time", "modified_by text", "modified_date time",
		"end_date time", "last_run int", "policy_id int")},
	{Name: "history", Key: []string{"id"}, Columns: cols("id int", "posture_id int", "policy_id int", "host_id int",
		"control_id int", "old_status text", "new_status text", "changed_at time", "run_id int")},
	{Name: "stale_history", Key: []string{"id"}, Columns: cols("id int", "posture_id int", "policy_id int", "host_id int",
		"control_id int", "status text", "stale bool", "run_id int")},
	{Name: "policy_hosts", Key: []string{"policy_id", "host_id"}, Columns: cols("policy_id int", "host_id int",
		"first_run int", "last_run int", "stale_run int", "whole bool")},
	{Name: "runs", Key: []string{"id"}, Columns: cols("id int", "started_at time", "finished_at time", "status text",
		"source text", "params json", "message text", "policies int", "batches int", "records int", "passed int",
		"failed int", "errors int", "rejects int", "wire_bytes int", "data_bytes int", "mode text", "since time",
		"resumed int", "request json", "planned bool", "problems text", "wrote bool", "throttles int", "retries int",
		"shard text")},
	{Name: "run_policies", Key: []string{"run_id", "policy_id"}, Columns: cols("run_id int", "policy_id int", "title text",
		"hosts_requested int", "hosts_returned int", "records int", "passed int", "failed int", "errors int", "error text",
		"stale_hosts int", "stale_postures int", "plan_error text")},
	{Name: "run_batches", Key: []string{"run_id", "batch_no"}, Columns: cols("run_id int", "batch_no int", "policy_id int",
		"kind text", "host_ids text", "subscription_id text", "hosts int", "filtered bool", "status text", "cursor int",
		"hosts_returned int", "records int", "passed int", "failed int", "errors int", "error text", "finished_at time",
		"rejects int")},
	{Name: "counts_host", Key: []string{"policy_id", "host_id"}, Columns: cols("policy_id int", "host_id int",
		"passed int", "failed int", "errors int", "stale int")},
	{Name: "counts_control", Key: []string{"policy_id", "control_id", "technology_id"}, Columns: cols("policy_id int",
		"control_id int", "technology_id int", "passed int", "failed int", "errors int", "stale int")},
	{Name: "counts_policy", Key: []string{"policy_id"}, Columns: cols("policy_id int", "hosts int")},
	{Name: "current_hosts", Key: []string{"host_id"}, Columns: cols("host_id int", "policies int")},
	{Name: "run_counts", Key: []string{"policy_id", "framework_id", "run_id"}, Columns: cols("policy_id int",
		"framework_id int", "run_id int", "passed int", "failed int", "errors int")},
}
