package emulator

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"pcsync/internal/compliance"
)

// classicPolicyList is /api/{v}/fo/compliance/policy/?action=list. With
// details=None the answer is an ID_SET of ID and ID_RANGE elements; Basic
// adds each policy's dates, status, lock, EVALUATE_NOW, ASSET_GROUP_IDS and
// TAG_SET (the policy list DTD's order); All adds the GLOSSARY of the asset
// groups and tags the policies name.
func (s *Server) classicPolicyList(w http.ResponseWriter, r *http.Request, c *classicRequest) {
	p := c.params
	q, ok := parseList(w, r, p, "policy/list")
	if !ok {
		return
	}
	after, ok := dateParam(w, r, p, "updated_after_datetime")
	if !ok {
		return
	}
	est := s.Estate()
	var pols []compliance.Policy
	for _, pol := range est.Policies() {
		if q.selects(pol.ID) && (after.IsZero() || !pol.ModifiedDate.Before(after)) {
			pols = append(pols, pol)
		}
	}
	x := xmlAnswer(w)
	x.header("POLICY_LIST_OUTPUT", c.base+"/policy/policy_list_output.dtd")
	x.open("POLICY_LIST_OUTPUT")
	x.open("RESPONSE")
	x.text("DATETIME", compliance.FormatDate(est.Now()))
	switch {
	case len(pols) == 0:
	case q.details == "None":
		writeIDSet(x, pols)
	default:
		x.open("POLICY_LIST")
		for i := range pols {
			writeListedPolicy(x, &pols[i], policyScope(est, pols[i].ID))
		}
		x.close("POLICY_LIST")
		if q.details == "All" {
			writePolicyGlossary(x, est, pols)
		}
	}
	x.close("RESPONSE")
	x.close("POLICY_LIST_OUTPUT")
	x.w.WriteString("\n")
	x.w.Flush()
}

// writeIDSet writes the ids of pols (in ascending order) as Qualys does for
// details=None: a run of consecutive ids is one ID_RANGE.
func writeIDSet(x *xw, pols []compliance.Policy) {
	x.open("ID_SET")
	for i := 0; i < len(pols); {
		j := i
		for j+1 < len(pols) && pols[j+1].ID == pols[j].ID+1 {
			j++
		}
		if j > i {
			x.text("ID_RANGE", strconv.FormatInt(pols[i].ID, 10)+"-"+strconv.FormatInt(pols[j].ID, 10))
		} else {
			x.int("ID", pols[i].ID)
		}
		i = j + 1
	}
	x.close("ID_SET")
}

// scope is what a policy is assigned to: asset groups and asset tags.
type scope struct {
	assetGroups       []int64
	tagsIn, tagsOut   []int64
	agentIPs, evalNow bool
}

// policyScope derives a policy's assignment from the estate's seed: one or
// two asset groups, and for every other policy an included tag (and
// sometimes an excluded one).
func policyScope(est *Estate, id int64) scope {
	h := est.hash(0xA55E7, uint64(id), 0)
	sc := scope{assetGroups: []int64{assetGroupBase + int64(h%8)}, agentIPs: h>>8&1 == 1}
	if h>>9&1 == 1 {
		sc.assetGroups = append(sc.assetGroups, assetGroupBase+8+int64(h>>10%8))
	}
	if h>>16&1 == 1 {
		sc.tagsIn = []int64{tagBase + int64(h>>17%12)}
		if h>>24&3 == 0 {
			sc.tagsOut = []int64{tagBase + 12 + int64(h>>26%4)}
		}
	}
	return sc
}

const (
	assetGroupBase = 2_340_001
	tagBase        = 81_200_001
)

func writeListedPolicy(x *xw, pol *compliance.Policy, sc scope) {
	x.open("POLICY")
	x.int("ID", pol.ID)
	x.cdata("TITLE", pol.Title)
	x.by("CREATED", pol.CreatedDate, pol.CreatedBy)
	x.by("LAST_MODIFIED", pol.ModifiedDate, pol.ModifiedBy)
	x.open("LAST_EVALUATED")
	x.date("DATETIME", pol.LastEvaluatedDate)
	x.close("LAST_EVALUATED")
	x.text("STATUS", pol.Status)
	x.bool("IS_LOCKED", pol.Locked)
	x.bool("EVALUATE_NOW", sc.evalNow)
	x.text("ASSET_GROUP_IDS", joinIDs(sc.assetGroups))
	if len(sc.tagsIn) > 0 {
		x.open("TAG_SET")
		x.open("TAG_SET_INCLUDE")
		for _, t := range sc.tagsIn {
			x.int("TAG_ID", t)
		}
		x.close("TAG_SET_INCLUDE")
		if len(sc.tagsOut) > 0 {
			x.open("TAG_SET_EXCLUDE")
			for _, t := range sc.tagsOut {
				x.int("TAG_ID", t)
			}
			x.close("TAG_SET_EXCLUDE")
		}
		x.close("TAG_SET")
		x.text("TAG_INCLUDE_SELECTOR", "any")
		x.text("TAG_EXCLUDE_SELECTOR", "any")
	}
	x.bool("INCLUDE_AGENT_IPS", sc.agentIPs)
	x.close("POLICY")
}

// appendNew appends the ids list does not hold yet.
func appendNew(list []int64, ids ...int64) []int64 {
	for _, id := range ids {
		if !slices.Contains(list, id) {
			list = append(list, id)
		}
	}
	return list
}

func joinIDs(ids []int64) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.FormatInt(id, 10)
	}
	return strings.Join(s, ",")
}

// writePolicyGlossary writes the asset groups and tags the policies name.
func writePolicyGlossary(x *xw, est *Estate, pols []compliance.Policy) {
	var gl, tl []int64
	for _, p := range pols {
		sc := policyScope(est, p.ID)
		gl = appendNew(gl, sc.assetGroups...)
		tl = appendNew(appendNew(tl, sc.tagsIn...), sc.tagsOut...)
	}
	x.open("GLOSSARY")
	x.open("ASSET_GROUP_LIST")
	for _, g := range gl {
		x.open("ASSET_GROUP")
		x.int("ID", g)
		x.cdata("TITLE", "Asset group "+strconv.FormatInt(g-assetGroupBase+1, 10))
		x.close("ASSET_GROUP")
	}
	x.close("ASSET_GROUP_LIST")
	if len(tl) > 0 {
		x.open("TAG_LIST")
		for _, t := range tl {
			x.open("TAG")
			x.int("TAG_ID", t)
			x.cdata("NAME", "tag-"+strconv.FormatInt(t-tagBase+1, 10))
			x.close("TAG")
		}
		x.close("TAG_LIST")
	}
	x.close("GLOSSARY")
}
