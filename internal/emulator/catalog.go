package emulator

// The fixed catalogues the generator draws from. Ids and names follow the
// style of Qualys's technology and control library; they are not copies of it.

type osTech struct {
	id    int64
	name  string
	os    string
	cpe   string
	share int // relative weight among hosts
}

var osTechs = []osTech{
	{45, "Red Hat Enterprise Linux 8.x", "Red Hat Enterprise Linux 8.6", "cpe:/o:redhat:enterprise_linux:8.6:::", 30},
	{93, "Red Hat Enterprise Linux 9.x", "Red Hat Enterprise Linux 9.2", "cpe:/o:redhat:enterprise_linux:9.2:::", 15},
	{128, "Ubuntu 22.04 LTS", "Ubuntu Linux 22.04.3 LTS", "cpe:/o:canonical:ubuntu_linux:22.04:::", 15},
	{88, "Windows Server 2019", "Windows Server 2019 Datacenter 64 bit Edition Version 1809", "cpe:/o:microsoft:windows_server_2019:-:::", 25},
	{131, "Windows Server 2022", "Windows Server 2022 Standard 64 bit Edition Version 21H2", "cpe:/o:microsoft:windows_server_2022:-:::", 15},
}

// dbTech is the database technology some hosts carry, evaluated per instance.
var dbTech = struct {
	id   int64
	name string
}{105, "Oracle 19c"}

var oracleSIDs = []string{"ORCL", "HRPROD", "FINDW", "ERP01"}

var trackingMethods = []struct {
	name  string
	share int
}{{"AGENT", 50}, {"IP", 35}, {"DNS", 10}, {"NETBIOS", 5}}

var networks = []struct {
	id   int64
	name string
}{{0, "Global Default Network"}, {1001, "DMZ"}, {1002, "Datacenter East"}, {1003, "Datacenter West"}}

var criticalities = []struct {
	label string
	value int64
	share int
}{{"MINIMAL", 1, 10}, {"MEDIUM", 2, 30}, {"SERIOUS", 3, 35}, {"CRITICAL", 4, 20}, {"URGENT", 5, 5}}

var policyTitles = []string{
	"CIS Benchmark for Red Hat Enterprise Linux 8",
	"CIS Benchmark for Microsoft Windows Server 2019",
	"DISA STIG for Red Hat Enterprise Linux 9",
	"CIS Benchmark for Ubuntu Linux 22.04 LTS",
	"Corporate Baseline - Servers",
	"PCI DSS 4.0 Hardening",
	"CIS Benchmark for Oracle Database 19c",
	"DISA STIG for Windows Server 2022",
}

var policyOwners = []string{"jdoe", "asmith", "compliance_admin", "mlopez"}

var controlTopics = []struct {
	category    string
	subCategory string
	statement   string
	expected    []string
	current     []string
}{
	{"Access Control Requirements", "Remote Access", "Status of the 'PermitRootLogin' setting in sshd_config",
		[]string{"no", "without-password"}, []string{"PermitRootLogin yes", "# PermitRootLogin prohibit-password"}},
	{"Authentication and Password Management", "Password Policy", "Status of the 'Minimum password length' setting",
		[]string{"14", "greater than or equal to 14"}, []string{"minlen = 8", "PASS_MIN_LEN\t8"}},
	{"File Security", "Permissions", "Status of the permissions set on '/etc/shadow'",
		[]string{"-r--------", "root:root 0400"}, []string{"-rw-r--r-- root root /etc/shadow"}},
	{"Audit and Logging", "Log Retention", "Status of the 'max_log_file_action' setting in auditd.conf",
		[]string{"keep_logs"}, []string{"max_log_file_action = ROTATE"}},
	{"Network Security", "Firewall", "Status of the 'Windows Firewall: Domain: Firewall state' setting",
		[]string{"On (recommended)"}, []string{"HKLM\\SOFTWARE\\Policies\\Microsoft\\WindowsFirewall\\DomainProfile\\EnableFirewall = 0"}},
	{"System Services", "Unnecessary Services", "Status of the 'telnet' service",
		[]string{"disabled", "not installed"}, []string{"telnet.socket enabled", "xinetd: \"telnet\" stream tcp nowait"}},
	{"Database Security", "Privileges", "Status of the 'AUDIT_TRAIL' parameter",
		[]string{"DB", "DB,EXTENDED", "OS"}, []string{"audit_trail=NONE"}},
	{"Patch Management", "Updates", "Status of the 'gpgcheck' setting in yum.conf",
		[]string{"1"}, []string{"gpgcheck=0", "repo \u00e9pel: gpgcheck unset"}},
}
