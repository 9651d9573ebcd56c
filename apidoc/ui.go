package apidoc

import (
	"bytes"
	"encoding/json"
	"html/template"
	"io/fs"
	"net/http"
	"strings"

	swaggerfiles "github.com/swaggo/files/v2"
)

// SpecPath is where the index page tells Swagger UI to fetch the document,
// and where Handler serves it.
const SpecPath = "/openapi.json"

// Handler serves Swagger UI under prefix and the document at SpecPath:
//
//	GET {prefix}              the Swagger UI page (also {prefix}/ and {prefix}/index.html)
//	GET {prefix}/{asset}      Swagger UI's scripts, styles and icons
//	GET /openapi.json         the document
//
// It matches on the full request path, so mount it without stripping the
// prefix; with gin, for prefix "/docs":
//
//	h := gin.WrapH(apidoc.Handler("/docs"))
//	r.GET("/docs", h)
//	r.GET("/docs/*asset", h)
//	r.GET("/openapi.json", h)
//
// Every byte comes from the binary: no CDN, no call to Swagger's online
// validator.
func Handler(prefix string) http.Handler {
	prefix = "/" + strings.Trim(prefix, "/")
	if prefix == "/" {
		prefix = ""
	}
	var page bytes.Buffer
	if err := indexPage.Execute(&page, prefix); err != nil {
		panic("apidoc: index page: " + err.Error()) // the template and its input are ours
	}
	spec, _ := json.Marshal(SpecPath)
	return &docs{
		prefix:      prefix,
		index:       page.Bytes(),
		initializer: []byte(strings.Replace(initializer, "SPEC_URL", string(spec), 1)),
		assets:      http.StripPrefix(prefix, http.FileServerFS(swaggerfiles.FS)),
	}
}

type docs struct {
	prefix      string
	index       []byte
	initializer []byte
	assets      http.Handler
}

func (d *docs) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed")
		return
	}
	p := r.URL.Path
	switch {
	case p == SpecPath:
		serveBytes(w, r, "application/json", document)
	case p == d.prefix || p == d.prefix+"/" || p == d.prefix+"/index.html":
		serveBytes(w, r, "text/html; charset=utf-8", d.index)
	case p == d.prefix+"/swagger-initializer.js":
		serveBytes(w, r, "text/javascript; charset=utf-8", d.initializer)
	case strings.HasPrefix(p, d.prefix+"/") && isAsset(strings.TrimPrefix(p, d.prefix+"/")):
		// Swagger UI's version is fixed for the life of the binary.
		w.Header().Set("Cache-Control", "public, max-age=86400")
		d.assets.ServeHTTP(w, r)
	default:
		writeError(w, http.StatusNotFound, "no route "+r.Method+" "+p)
	}
}

// isAsset reports whether name is a file of the Swagger UI distribution.
func isAsset(name string) bool {
	if name == "" || strings.Contains(name, "/") {
		return false
	}
	st, err := fs.Stat(swaggerfiles.FS, name)
	return err == nil && !st.IsDir()
}

func serveBytes(w http.ResponseWriter, r *http.Request, contentType string, b []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Cache-Control", "no-cache")
	if r.Method == http.MethodGet {
		w.Write(b)
	}
}

// writeError answers in the API's error shape.
func writeError(w http.ResponseWriter, status int, detail string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"detail": detail})
}

// indexPage replaces the distribution's index.html, whose script and style
// paths are relative and would break at {prefix} without a trailing slash.
var indexPage = template.Must(template.New("index").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="UTF-8">
  <title>GoHands API</title>
  <link rel="stylesheet" type="text/css" href="{{.}}/swagger-ui.css">
  <link rel="stylesheet" type="text/css" href="{{.}}/index.css">
  <link rel="icon" type="image/png" href="{{.}}/favicon-32x32.png" sizes="32x32">
  <link rel="icon" type="image/png" href="{{.}}/favicon-16x16.png" sizes="16x16">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{{.}}/swagger-ui-bundle.js" charset="UTF-8"></script>
  <script src="{{.}}/swagger-initializer.js" charset="UTF-8"></script>
</body>
</html>
`))

// initializer replaces the distribution's swagger-initializer.js, which
// points at the Petstore. validatorUrl null keeps Swagger UI from calling
// validator.swagger.io.
const initializer = `window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: SPEC_URL,
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout"
  });
};
`
