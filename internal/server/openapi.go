package server

import (
	_ "embed"
	"net/http"
)

//go:embed openapi.json
var openAPIDoc []byte

func (s *Server) apiOpenAPI(w http.ResponseWriter, r *http.Request) {
	if !s.noParams(w, r) {
		return
	}
	writeJSONBytes(w, http.StatusOK, openAPIDoc)
}
