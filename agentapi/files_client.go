package agentapi

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
)

// ReadFile returns lines start..end (1-based; end -1 for the rest) of a text file.
func (c *Client) ReadFile(ctx context.Context, path string, start, end int) (FileText, error) {
	var t FileText
	q := url.Values{"path": {path}, "start": {strconv.Itoa(start)}, "end": {strconv.Itoa(end)}}
	err := c.do(ctx, http.MethodGet, "/files/read?"+q.Encode(), nil, &t)
	return t, err
}

// WriteFile writes a whole file, making its parents.
func (c *Client) WriteFile(ctx context.Context, path, content string) (FileEntry, error) {
	var e FileEntry
	err := c.do(ctx, http.MethodPost, "/files/write", WriteRequest{Path: path, Content: content}, &e)
	return e, err
}

// Edit runs a file_editor command (view, create, str_replace, insert, undo_edit).
func (c *Client) Edit(ctx context.Context, req EditRequest) (EditResult, error) {
	var res EditResult
	err := c.do(ctx, http.MethodPost, "/files/edit", req, &res)
	return res, err
}

// ListFiles lists a directory to depth levels (1: its own entries).
func (c *Client) ListFiles(ctx context.Context, path string, depth int) (Listing, error) {
	var l Listing
	q := url.Values{"path": {path}, "depth": {strconv.Itoa(depth)}}
	err := c.do(ctx, http.MethodGet, "/files/list?"+q.Encode(), nil, &l)
	return l, err
}

// Stat describes one path.
func (c *Client) Stat(ctx context.Context, path string) (FileEntry, error) {
	var e FileEntry
	err := c.do(ctx, http.MethodGet, "/files/stat?"+url.Values{"path": {path}}.Encode(), nil, &e)
	return e, err
}

// Glob finds files matching a pattern, newest first.
func (c *Client) Glob(ctx context.Context, req GlobRequest) (GlobResult, error) {
	var res GlobResult
	err := c.do(ctx, http.MethodPost, "/files/glob", req, &res)
	return res, err
}

// Grep searches file contents.
func (c *Client) Grep(ctx context.Context, req GrepRequest) (GrepResult, error) {
	var res GrepResult
	err := c.do(ctx, http.MethodPost, "/files/grep", req, &res)
	return res, err
}

// UploadFile writes r to path as one file.
func (c *Client) UploadFile(ctx context.Context, path string, r io.Reader) (UploadResult, error) {
	return c.upload(ctx, path, r, "application/octet-stream")
}

// UploadTar unpacks a tar stream under the directory dest.
func (c *Client) UploadTar(ctx context.Context, dest string, r io.Reader) (UploadResult, error) {
	return c.upload(ctx, dest, r, TarType)
}

func (c *Client) upload(ctx context.Context, path string, r io.Reader, contentType string) (UploadResult, error) {
	var res UploadResult
	resp, err := c.sendRaw(ctx, http.MethodPut, "/files/upload?"+url.Values{"path": {path}}.Encode(), r, contentType)
	if err != nil {
		return res, err
	}
	defer resp.Body.Close()
	err = decodeAnswer(resp, &res)
	return res, err
}

// Download returns a file's bytes, or a tar stream of a directory tree (or
// of a file, with asTar), and its length, -1 when the agent did not say
// it. The caller closes the reader.
func (c *Client) Download(ctx context.Context, path string, asTar bool) (io.ReadCloser, int64, error) {
	q := url.Values{"path": {path}}
	if asTar {
		q.Set("format", "tar")
	}
	resp, err := c.sendRaw(ctx, http.MethodGet, "/files/download?"+q.Encode(), nil, "")
	if err != nil {
		return nil, 0, err
	}
	return resp.Body, resp.ContentLength, nil
}
