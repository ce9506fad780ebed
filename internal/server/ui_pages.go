package server

import "net/http"

// The dashboard's pages. Each reads its parameters, asks the Reader and
// renders its template.

func (s *Server) uiOverview(w http.ResponseWriter, r *http.Request)   { s.uiTODO(w, r, "overview") }
func (s *Server) uiPolicy(w http.ResponseWriter, r *http.Request)     { s.uiTODO(w, r, "overview") }
func (s *Server) uiControl(w http.ResponseWriter, r *http.Request)    { s.uiTODO(w, r, "overview") }
func (s *Server) uiHosts(w http.ResponseWriter, r *http.Request)      { s.uiTODO(w, r, "hosts") }
func (s *Server) uiHost(w http.ResponseWriter, r *http.Request)       { s.uiTODO(w, r, "hosts") }
func (s *Server) uiPostures(w http.ResponseWriter, r *http.Request)   { s.uiTODO(w, r, "overview") }
func (s *Server) uiFrameworks(w http.ResponseWriter, r *http.Request) { s.uiTODO(w, r, "frameworks") }
func (s *Server) uiChanges(w http.ResponseWriter, r *http.Request)    { s.uiTODO(w, r, "changes") }
func (s *Server) uiRuns(w http.ResponseWriter, r *http.Request)       { s.uiTODO(w, r, "runs") }
func (s *Server) uiRun(w http.ResponseWriter, r *http.Request)        { s.uiTODO(w, r, "runs") }
func (s *Server) uiExceptions(w http.ResponseWriter, r *http.Request) { s.uiTODO(w, r, "exceptions") }

// uiTODO is a placeholder page until the dashboard's pages land.
func (s *Server) uiTODO(w http.ResponseWriter, r *http.Request, nav string) {
	s.renderPage(w, r, http.StatusOK, "error", page{Title: "Coming soon", Nav: nav, Data: "This page of the dashboard is being built; the API at /api/v1 has its data."})
}
