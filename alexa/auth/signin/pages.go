package signin

import (
	"bytes"
	"html/template"
	"net/http"
)

// pageHTML is every page the proxy itself answers with.
var pageHTML = template.Must(template.New("page").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>alexarules sign-in: {{.Title}}</title></head>
<body><h1>{{.Title}}</h1><p>{{.Text}}</p></body></html>
`))

func renderPage(title, text string) []byte {
	var b bytes.Buffer
	// Executing a parsed template into a buffer with string fields
	// cannot fail.
	_ = pageHTML.Execute(&b, struct{ Title, Text string }{title, text})
	return b.Bytes()
}

// page answers a request with one of the proxy's own pages.
func (p *Proxy) page(w http.ResponseWriter, status int, title, text string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(renderPage(title, text))
}

// replacePage turns an upstream response into one of the proxy's pages,
// keeping its status.
func (p *Proxy) replacePage(resp *http.Response, title, text string) {
	h := http.Header{"Content-Type": {"text/html; charset=utf-8"}, "Cache-Control": {"no-store"}}
	replace(resp, resp.StatusCode, h, renderPage(title, text))
}

// serveSuccess is the page the browser lands on once the code is taken.
// It waits for the registration's outcome so that it can show it.
func (p *Proxy) serveSuccess(w http.ResponseWriter, r *http.Request) {
	select {
	case <-p.captured:
	default:
		p.page(w, http.StatusNotFound, "Not signed in yet", "Open "+p.h.base+" to sign in.")
		return
	}
	select {
	case <-p.finished:
	case <-r.Context().Done():
		return
	}
	p.forgetCookies(w, r)
	if p.outcome != nil {
		p.page(w, http.StatusOK, "Sign-in not completed",
			"Amazon accepted the sign-in, but alexarules could not register: "+p.outcome.Error()+
				". The terminal says more; run alexarules login again.")
	} else {
		p.page(w, http.StatusOK, "Signed in", "alexarules is registered with your Amazon account. You can close this window.")
	}
	p.pageOnce.Do(func() { close(p.pageShown) })
}

// forgetCookies deletes the Amazon cookies the sign-in left in the
// browser: they were set for 127.0.0.1, where any other local server
// would be sent them.
func (p *Proxy) forgetCookies(w http.ResponseWriter, r *http.Request) {
	names := map[string]bool{}
	for _, c := range p.res.Cookies {
		names[c.Name] = true
	}
	for _, c := range r.Cookies() {
		if names[c.Name] || amazonCookie.MatchString(c.Name) {
			http.SetCookie(w, &http.Cookie{Name: c.Name, Path: "/", MaxAge: -1})
		}
	}
}
