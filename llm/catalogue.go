package llm

import (
	"maps"
	"slices"
)

// Providers are the provider prefixes a model name may start with
// ("anthropic/claude-..."), as route reads them.
var providers = []string{"anthropic", "hosted_vllm", "litellm_proxy", "ollama", "openai", "openrouter"}

// Providers lists the provider prefixes GoHands routes, sorted.
func Providers() []string { return slices.Clone(providers) }

// Catalogue lists the well-known models of the price table by provider,
// each name sorted: the models whose cost GoHands knows, the ones a model
// picker offers first.
func Catalogue() map[string][]string {
	out := make(map[string][]string)
	for _, m := range models {
		out[m.provider] = append(out[m.provider], m.names...)
	}
	for _, names := range out {
		slices.Sort(names)
	}
	return out
}

// CatalogueModels lists the catalogue's models as "provider/name", sorted;
// with provider set, only that provider's.
func CatalogueModels(provider string) []string {
	out := []string{}
	cat := Catalogue()
	for _, p := range slices.Sorted(maps.Keys(cat)) {
		if provider != "" && p != provider {
			continue
		}
		for _, n := range cat[p] {
			out = append(out, p+"/"+n)
		}
	}
	slices.Sort(out)
	return out
}
