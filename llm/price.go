package llm

import "strings"

// Price is what a model costs, in US dollars per token.
type Price struct {
	Input      float64 // uncached prompt tokens
	Output     float64 // completion tokens, reasoning included
	CacheRead  float64 // prompt tokens read from the cache
	CacheWrite float64 // prompt tokens written to the cache
}

// Cost is the price of u.
func (p Price) Cost(u Usage) float64 {
	uncached := max(u.PromptTokens-u.CacheReadTokens-u.CacheWriteTokens, 0)
	return float64(uncached)*p.Input +
		float64(u.CacheReadTokens)*p.CacheRead +
		float64(u.CacheWriteTokens)*p.CacheWrite +
		float64(u.CompletionTokens)*p.Output
}

// modelInfo is what we know of a well-known model.
type modelInfo struct {
	price    Price
	window   int      // context window in tokens
	provider string   // the provider prefix of its name: "openai", "anthropic"
	names    []string // the names a client picks it by (Catalogue), as the provider spells them
}

// perM turns dollars per million tokens into dollars per token.
func perM(in, out, cacheRead, cacheWrite float64) Price {
	return Price{Input: in / 1e6, Output: out / 1e6, CacheRead: cacheRead / 1e6, CacheWrite: cacheWrite / 1e6}
}

// models are the list prices (standard tier, short prompts) and context
// windows of well-known models, by name prefix with dots written as dashes.
// OpenAI charges cache writes as input; Anthropic charges 1.25x input for
// them (5-minute cache) and 0.1x for reads.
var models = map[string]modelInfo{
	"gpt-4o":       {perM(2.50, 10.00, 1.25, 2.50), 128_000, "openai", []string{"gpt-4o"}},
	"gpt-4o-mini":  {perM(0.15, 0.60, 0.075, 0.15), 128_000, "openai", []string{"gpt-4o-mini"}},
	"gpt-4-1":      {perM(2.00, 8.00, 0.50, 2.00), 1_047_576, "openai", []string{"gpt-4.1"}},
	"gpt-4-1-mini": {perM(0.40, 1.60, 0.10, 0.40), 1_047_576, "openai", []string{"gpt-4.1-mini"}},
	"gpt-4-1-nano": {perM(0.10, 0.40, 0.025, 0.10), 1_047_576, "openai", []string{"gpt-4.1-nano"}},
	"gpt-5":        {perM(1.25, 10.00, 0.125, 1.25), 400_000, "openai", []string{"gpt-5"}},
	"gpt-5-mini":   {perM(0.25, 2.00, 0.025, 0.25), 400_000, "openai", []string{"gpt-5-mini"}},
	"gpt-5-nano":   {perM(0.05, 0.40, 0.005, 0.05), 400_000, "openai", []string{"gpt-5-nano"}},
	"gpt-5-1":      {perM(1.25, 10.00, 0.125, 1.25), 400_000, "openai", []string{"gpt-5.1"}},
	"gpt-5-2":      {perM(1.75, 14.00, 0.175, 1.75), 400_000, "openai", []string{"gpt-5.2"}},
	"o3":           {perM(2.00, 8.00, 0.50, 2.00), 200_000, "openai", []string{"o3"}},
	"o3-mini":      {perM(1.10, 4.40, 0.55, 1.10), 200_000, "openai", []string{"o3-mini"}},
	"o4-mini":      {perM(1.10, 4.40, 0.275, 1.10), 200_000, "openai", []string{"o4-mini"}},

	"claude-sonnet-4": {perM(3.00, 15.00, 0.30, 3.75), 200_000, "anthropic", []string{"claude-sonnet-4-20250514", "claude-sonnet-4-5-20250929"}},
	"claude-opus-4":   {perM(15.00, 75.00, 1.50, 18.75), 200_000, "anthropic", []string{"claude-opus-4-20250514"}},
	"claude-opus-4-1": {perM(15.00, 75.00, 1.50, 18.75), 200_000, "anthropic", []string{"claude-opus-4-1-20250805"}},
	"claude-opus-4-5": {perM(5.00, 25.00, 0.50, 6.25), 200_000, "anthropic", []string{"claude-opus-4-5-20251101"}},
	"claude-opus-4-6": {perM(5.00, 25.00, 0.50, 6.25), 200_000, "anthropic", []string{"claude-opus-4-6"}},
	"claude-haiku-4":  {perM(1.00, 5.00, 0.10, 1.25), 200_000, "anthropic", []string{"claude-haiku-4-5-20251001"}},
}

// lookup finds the model in the table: the longest key that is the name or
// a prefix of it followed by "-" (a version or date: "gpt-4o-2024-08-06",
// "claude-sonnet-4-5-20250929"). A name with a path ("anthropic/claude-x" at
// OpenRouter) is looked up by its last part.
func lookup(model string) (modelInfo, bool) {
	name := strings.ToLower(model)
	if i := strings.LastIndex(name, "/"); i >= 0 {
		name = name[i+1:]
	}
	name = strings.ReplaceAll(name, ".", "-")
	best, found := "", false
	for k := range models {
		if (name == k || strings.HasPrefix(name, k+"-")) && len(k) > len(best) {
			best, found = k, true
		}
	}
	return models[best], found
}

// PriceOf returns the table's price of a model (a name as the provider knows
// it, or with a provider prefix), and whether the model is in the table.
func PriceOf(model string) (Price, bool) {
	m, ok := lookup(model)
	return m.price, ok
}

// priceFor is the price a client charges: the table's, with what cfg sets
// on top. Cache prices not set follow a configured input price in the
// table's proportions (OpenAI's half-price reads, Anthropic's tenth); for a
// model not in the table they are the input price.
func priceFor(model string, cfg Config) Price {
	p, known := PriceOf(model)
	if cfg.InputCostPerToken != nil {
		if known && p.Input > 0 {
			r := *cfg.InputCostPerToken / p.Input
			p.CacheRead *= r
			p.CacheWrite *= r
		}
		p.Input = *cfg.InputCostPerToken
	}
	if cfg.OutputCostPerToken != nil {
		p.Output = *cfg.OutputCostPerToken
	}
	if !known {
		p.CacheRead, p.CacheWrite = p.Input, p.Input
	}
	if cfg.CacheReadCostPerToken != nil {
		p.CacheRead = *cfg.CacheReadCostPerToken
	}
	if cfg.CacheWriteCostPerToken != nil {
		p.CacheWrite = *cfg.CacheWriteCostPerToken
	}
	return p
}

func contextWindowOf(model string) int {
	m, _ := lookup(model)
	return m.window
}
