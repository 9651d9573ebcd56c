package agentd

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/agentd/files"
)

func (s *Server) fileRoutes(auth func(string, func(http.ResponseWriter, *http.Request) error)) {
	s.editor = files.NewEditor(s.cfg.Files, files.EditorOptions{WorkDir: s.cfg.WorkDir})
	auth("GET /files/read", s.readFile)
	auth("POST /files/write", s.writeFile)
	auth("POST /files/edit", s.editFile)
	auth("GET /files/list", s.listFiles)
	auth("GET /files/stat", s.statFile)
	auth("POST /files/glob", s.globFiles)
	auth("POST /files/grep", s.grepFiles)
	auth("PUT /files/upload", s.upload)
	auth("GET /files/download", s.download)
}

func (s *Server) readFile(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	start, err := intParam(q.Get("start"), 0)
	if err != nil {
		return err
	}
	end, err := intParam(q.Get("end"), -1)
	if err != nil {
		return err
	}
	text, err := s.cfg.Files.Read(q.Get("path"), start, end)
	if err != nil {
		return fileError(err)
	}
	writeJSON(w, http.StatusOK, text)
	return nil
}

func (s *Server) writeFile(w http.ResponseWriter, r *http.Request) error {
	var req agentapi.WriteRequest
	// The body may carry a whole file: allow the write limit plus JSON's overhead.
	limit := s.cfg.Files.MaxWriteBytes()*2 + 4096
	if err := decodeJSON(io.LimitReader(r.Body, limit+1), limit, &req); err != nil {
		return err
	}
	if err := s.cfg.Files.Write(req.Path, []byte(req.Content)); err != nil {
		return fileError(err)
	}
	st, err := s.cfg.Files.Stat(req.Path)
	if err != nil {
		return fileError(err)
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

func (s *Server) editFile(w http.ResponseWriter, r *http.Request) error {
	var req files.EditRequest
	limit := s.cfg.Files.MaxWriteBytes()*2 + 4096
	if err := decodeJSON(io.LimitReader(r.Body, limit+1), limit, &req); err != nil {
		return err
	}
	res, err := s.editor.Run(req)
	if err != nil {
		return fileError(err)
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

func (s *Server) listFiles(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	depth, err := intParam(q.Get("depth"), 1)
	if err != nil {
		return err
	}
	limit, err := intParam(q.Get("limit"), 0)
	if err != nil {
		return err
	}
	path := q.Get("path")
	if path == "" {
		path = s.cfg.WorkDir
	}
	l, err := s.cfg.Files.List(r.Context(), path, files.ListOptions{Depth: depth, Limit: limit})
	if err != nil {
		return fileError(err)
	}
	writeJSON(w, http.StatusOK, l)
	return nil
}

func (s *Server) statFile(w http.ResponseWriter, r *http.Request) error {
	st, err := s.cfg.Files.Stat(r.URL.Query().Get("path"))
	if err != nil {
		return fileError(err)
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

func (s *Server) globFiles(w http.ResponseWriter, r *http.Request) error {
	var req agentapi.GlobRequest
	if err := s.decode(r, &req); err != nil {
		return err
	}
	if req.Dir == "" {
		req.Dir = s.cfg.WorkDir
	}
	res, err := s.cfg.Files.Glob(r.Context(), req.Pattern, files.GlobOptions{Dir: req.Dir, Limit: req.Limit})
	if err != nil {
		return fileError(err)
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

func (s *Server) grepFiles(w http.ResponseWriter, r *http.Request) error {
	var req agentapi.GrepRequest
	if err := s.decode(r, &req); err != nil {
		return err
	}
	if req.Path == "" {
		req.Path = s.cfg.WorkDir
	}
	res, err := s.cfg.Files.Grep(r.Context(), req.Pattern, files.GrepOptions{
		Path: req.Path, Include: req.Include, IgnoreCase: req.IgnoreCase,
		Hidden: req.Hidden, FilesOnly: req.FilesOnly, MaxMatches: req.MaxMatches,
	})
	if err != nil {
		return fileError(err)
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// upload takes a raw file, or a tar stream (Content-Type application/x-tar)
// that is unpacked under path.
func (s *Server) upload(w http.ResponseWriter, r *http.Request) error {
	path := r.URL.Query().Get("path")
	if r.Header.Get("Content-Type") == agentapi.TarType {
		res, err := s.cfg.Files.Upload(r.Context(), path, r.Body)
		if err != nil {
			return fileError(err)
		}
		writeJSON(w, http.StatusOK, agentapi.UploadResult{Path: path, Bytes: res.Bytes, Tree: &res})
		return nil
	}
	n, err := s.cfg.Files.UploadFile(r.Context(), path, r.Body)
	if err != nil {
		return fileError(err)
	}
	writeJSON(w, http.StatusOK, agentapi.UploadResult{Path: path, Bytes: n})
	return nil
}

// download sends a regular file as it is, or anything else (a directory
// tree) as a tar stream; ?format=tar asks for tar even for one file.
func (s *Server) download(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	path := q.Get("path")
	st, err := s.cfg.Files.Stat(path)
	if err != nil {
		return fileError(err)
	}
	if st.Type == "file" && q.Get("format") != "tar" {
		f, fi, err := s.cfg.Files.Open(path)
		if err != nil {
			return fileError(err)
		}
		defer f.Close()
		// The size stat gives is not the content's for the files of /proc
		// and /sys: small files are read first and sent with the length
		// read, others to their end.
		body, n, err := files.Measure(f, fi.Size(), files.SmallFile)
		if err != nil {
			return fileError(err)
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		if n >= 0 {
			w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		}
		w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", filepath.Base(path)))
		io.Copy(w, body)
		return nil
	}
	w.Header().Set("Content-Type", agentapi.TarType)
	// Once the stream has begun the status cannot change; a failure part way
	// cuts the tar short, which the reader notices as a truncated archive.
	if err := s.cfg.Files.Download(r.Context(), path, w); err != nil {
		s.log.Warn("download cut short", "path", path, "err", err)
	}
	return nil
}

func intParam(v string, def int) (int, error) {
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, errorf(http.StatusBadRequest, "%q is not a whole number", v)
	}
	return n, nil
}

// fileError picks the status for an error of the files package. The detail
// is the message written for the model (the file editor's own wording).
func fileError(err error) *agentapi.HTTPError {
	var fe *files.Error
	detail := err.Error()
	if errors.As(err, &fe) && fe.Msg != "" && isEditorOp(fe.Op) {
		detail = fe.Msg
	}
	switch {
	case errors.Is(err, files.ErrInvalid):
		return errorf(http.StatusBadRequest, "%s", detail)
	case errors.Is(err, files.ErrNotFound):
		return errorf(http.StatusNotFound, "%s", detail)
	case errors.Is(err, files.ErrExists), errors.Is(err, files.ErrConflict):
		return errorf(http.StatusConflict, "%s", detail)
	case errors.Is(err, files.ErrBinary):
		return errorf(http.StatusUnsupportedMediaType, "%s", detail)
	case errors.Is(err, files.ErrTooLarge):
		return errorf(http.StatusRequestEntityTooLarge, "%s", detail)
	case errors.Is(err, files.ErrPermission):
		return errorf(http.StatusForbidden, "%s", detail)
	}
	return errorf(http.StatusInternalServerError, "%s", detail)
}

func isEditorOp(op string) bool {
	switch op {
	case files.CmdView, files.CmdCreate, files.CmdStrReplace, files.CmdInsert, files.CmdUndoEdit:
		return true
	}
	return false
}
