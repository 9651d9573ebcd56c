package agentapi

import (
	"context"
	"net/http"
)

// Browse fetches a page from inside the sandbox and returns part of its text;
// without a URL it reads on in the last page fetched. A page with an error
// status is a result (see BrowseResult.Status); a page that cannot be
// fetched or read is an *HTTPError: 400 for a bad request, 415 for a type
// that is not HTML, text or JSON, 502 for DNS, connection and TLS failures,
// 504 for a timeout.
func (c *Client) Browse(ctx context.Context, req BrowseRequest) (BrowseResult, error) {
	var res BrowseResult
	err := c.do(ctx, http.MethodPost, "/browse", req, &res)
	return res, err
}
