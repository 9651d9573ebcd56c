package llm

import (
	"slices"
	"strings"
	"testing"
)

// TestCatalogueIsPriced checks that every model the catalogue offers is
// priced by the table under its own entry, and routes to its provider.
func TestCatalogueIsPriced(t *testing.T) {
	n := 0
	for key, info := range models {
		if len(info.names) == 0 {
			t.Errorf("table entry %s lists no name", key)
		}
		for _, name := range info.names {
			n++
			got, ok := lookup(name)
			if !ok || got.price != info.price || got.window != info.window {
				t.Errorf("%s (of %s) is not priced by its own entry", name, key)
			}
			r, err := route(info.provider+"/"+name, "")
			if err != nil || r.name != name || r.provider != info.provider {
				t.Errorf("%s/%s routes to %+v, %v", info.provider, name, r, err)
			}
			if !slices.Contains(Providers(), info.provider) {
				t.Errorf("provider %s of %s is not in Providers", info.provider, name)
			}
		}
	}
	all := CatalogueModels("")
	if len(all) != n {
		t.Errorf("CatalogueModels lists %d models, the table names %d", len(all), n)
	}
	for _, m := range CatalogueModels("anthropic") {
		if !strings.HasPrefix(m, "anthropic/claude-") {
			t.Errorf("CatalogueModels(anthropic) lists %s", m)
		}
	}
	if got := CatalogueModels("nosuch"); len(got) != 0 {
		t.Errorf("CatalogueModels(nosuch) = %v", got)
	}
}

// TestProvidersRoute checks that each provider prefix is one route reads.
func TestProvidersRoute(t *testing.T) {
	for _, p := range Providers() {
		if _, err := route(p+"/some-model", "http://127.0.0.1:9/v1"); err != nil {
			t.Errorf("provider %s: %v", p, err)
		}
		r, _ := route(p+"/some-model", "http://127.0.0.1:9/v1")
		if r.name != "some-model" {
			t.Errorf("provider %s is not read as a prefix: name %q", p, r.name)
		}
	}
}
