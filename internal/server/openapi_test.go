package server_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"pcsync/internal/server"
)

type openAPIDoc struct {
	OpenAPI    string                              `json:"openapi"`
	Paths      map[string]map[string]openAPIOp     `json:"paths"`
	Components struct{ Schemas map[string]schema } `json:"components"`
}

type openAPIOp struct {
	Parameters []struct {
		Name string `json:"name"`
		In   string `json:"in"`
	} `json:"parameters"`
	Responses map[string]struct {
		Content map[string]struct {
			Schema schema `json:"schema"`
		} `json:"content"`
	} `json:"responses"`
}

type schema struct {
	Ref        string            `json:"$ref"`
	Properties map[string]schema `json:"properties"`
	Items      *schema           `json:"items"`
	AllOf      []schema          `json:"allOf"`
}

// props resolves a schema's properties through $ref and allOf.
func (d *openAPIDoc) props(s schema) map[string]schema {
	if s.Ref != "" {
		return d.props(d.Components.Schemas[strings.TrimPrefix(s.Ref, "#/components/schemas/")])
	}
	out := maps.Clone(s.Properties)
	if out == nil {
		out = map[string]schema{}
	}
	for _, a := range s.AllOf {
		maps.Copy(out, d.props(a))
	}
	return out
}

// The OpenAPI document describes the routes the server really has, the
// parameters each takes, and the fields each really answers with.
func TestOpenAPIDocumentMatchesTheServer(t *testing.T) {
	t.Parallel()
	path := testDB(t)
	db := openSQL(t, path)
	forEachServer(t, path, func(t *testing.T, ts *httptest.Server) {
		var doc openAPIDoc
		getJSON(t, ts.URL+"/api/v1/openapi.json", &doc)
		if !strings.HasPrefix(doc.OpenAPI, "3.") {
			t.Fatalf("openapi %q, want 3.x", doc.OpenAPI)
		}
		var documented []string
		for p, ops := range doc.Paths {
			for method := range ops {
				documented = append(documented, strings.ToUpper(method)+" "+p)
			}
		}
		real := server.New(server.Options{}).APIRoutes()
		slices.Sort(documented)
		slices.Sort(real)
		if !slices.Equal(documented, real) {
			t.Fatalf("documented routes\n%v\nthe server's\n%v", documented, real)
		}
		ids := map[string]int64{
			"/api/v1/policies/{id}": db.int(`SELECT min(policy_id) FROM postures`), "/api/v1/policies/{id}/controls": db.int(`SELECT min(policy_id) FROM postures`),
			"/api/v1/controls/{id}": db.int(`SELECT min(control_id) FROM postures`), "/api/v1/hosts/{id}": db.int(`SELECT min(host_id) FROM postures`),
			"/api/v1/runs/{id}": db.int(`SELECT max(id) FROM runs`),
		}
		for p, ops := range doc.Paths {
			op := ops["get"]
			url := ts.URL + strings.ReplaceAll(p, "{id}", fmt.Sprint(ids[p]))
			// every documented query parameter is taken (an unknown one is a 400)
			for _, prm := range op.Parameters {
				if prm.In == "query" {
					if code, body := get(t, url+"?"+prm.Name+"="); code == 400 && strings.Contains(string(body), "unknown parameter") {
						t.Errorf("%s: documented parameter %s is refused", p, prm.Name)
					}
				}
			}
			// what it answers for an id the database lacks, and for another
			// method, it documents
			if strings.Contains(p, "{id}") {
				code, _ := get(t, ts.URL+strings.ReplaceAll(p, "{id}", "999999999"))
				if _, ok := op.Responses[fmt.Sprint(code)]; !ok {
					t.Errorf("%s with an id the database lacks answers %d, which it does not document", p, code)
				}
			}
			if resp, err := http.Post(url, "application/json", nil); err == nil {
				resp.Body.Close()
				if _, ok := op.Responses[fmt.Sprint(resp.StatusCode)]; !ok {
					t.Errorf("%s asked with POST answers %d, which it does not document", p, resp.StatusCode)
				}
			}
			if code, body := get(t, url+"?undocumented=1"); p != "/api/v1/openapi.json" && code != 400 {
				t.Errorf("%s takes a parameter it does not document: %d %.80s", p, code, body)
			}
			want := doc.props(op.Responses["200"].Content["application/json"].Schema)
			var got map[string]json.RawMessage
			getJSON(t, url, &got)
			if items, ok := want["items"]; ok && items.Items != nil { // a list: check one item's fields
				var page struct{ Items []map[string]json.RawMessage }
				getJSON(t, url, &page)
				if len(page.Items) == 0 {
					t.Errorf("%s: no item to check", p)
					continue
				}
				got, want = page.Items[0], doc.props(*items.Items)
			}
			if p == "/api/v1/openapi.json" {
				continue
			}
			if g, w := slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)); !slices.Equal(g, w) {
				t.Errorf("%s answers fields\n%v\nthe document says\n%v", p, g, w)
			}
		}
	})
}
