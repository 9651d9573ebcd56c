package security

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// The benchmarks of masking: run them together, so that the baseline, a
// plain bytes.Index scan for one secret, is measured in the same run:
//
//	go test -run '^$' -bench 'Mask|Index' -benchmem ./security/
//
// ns/op over 1 MiB is printed as MB/s; ns/byte is 1e3 / (MB/s).

const alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// benchSecrets returns n distinct secrets shaped like API tokens.
func benchSecrets(n int) map[string]string {
	rng := rand.New(rand.NewPCG(7, uint64(n)))
	out := make(map[string]string, n)
	for i := range n {
		b := []byte("tok-")
		for range 28 + rng.IntN(24) {
			b = append(b, alnum[rng.IntN(len(alnum))])
		}
		out[fmt.Sprintf("SECRET_%d", i)] = string(b)
	}
	return out
}

// benchObservation returns 1 MiB of text like a command's output: lines
// of words and numbers, with some of the secrets in it.
func benchObservation(secrets map[string]string) []byte {
	rng := rand.New(rand.NewPCG(8, 9))
	values := make([]string, 0, len(secrets))
	for _, v := range secrets {
		values = append(values, v)
	}
	var b bytes.Buffer
	for b.Len() < 1<<20 {
		for w := range 4 + rng.IntN(10) {
			if w > 0 {
				b.WriteByte(' ')
			}
			if rng.IntN(5000) == 0 {
				b.WriteString(values[rng.IntN(len(values))])
				continue
			}
			for range 1 + rng.IntN(9) {
				b.WriteByte(alnum[rng.IntN(len(alnum))])
			}
		}
		b.WriteByte('\n')
	}
	return b.Bytes()[:1<<20]
}

// BenchmarkIndexOneSecret is the baseline: one bytes.Index scan of 1 MiB
// for a secret that is not there.
func BenchmarkIndexOneSecret(b *testing.B) {
	obs := benchObservation(benchSecrets(1000))
	secret := []byte("tok-" + strings.Repeat("Z", 32))
	b.SetBytes(int64(len(obs)))
	at := 0
	for b.Loop() {
		at = bytes.Index(obs, secret)
	}
	if at != -1 {
		b.Fatal("found")
	}
}

// BenchmarkMask1MiB1000Secrets masks a 1 MiB observation with 1,000
// secrets, some of which it holds.
func BenchmarkMask1MiB1000Secrets(b *testing.B) {
	secrets := benchSecrets(1000)
	obs := string(benchObservation(secrets))
	m := NewMasker(secrets)
	if m.Mask(obs) == obs {
		b.Fatal("nothing masked")
	}
	b.SetBytes(int64(len(obs)))
	for b.Loop() {
		m.Mask(obs)
	}
}

// BenchmarkMaskJSON1MiB1000Secrets is the same observation as a JSON
// string, masked as stored events are.
func BenchmarkMaskJSON1MiB1000Secrets(b *testing.B) {
	secrets := benchSecrets(1000)
	obs := benchObservation(secrets)
	data := fmt.Appendf(nil, "{\"text\":%q}", obs)
	m := NewMasker(secrets)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		m.MaskJSON(data)
	}
}

// BenchmarkNewMasker builds a Masker of 1,000 and of 100,000 secrets.
func BenchmarkNewMasker(b *testing.B) {
	for _, n := range []int{1000, 100_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			secrets := benchSecrets(n)
			for b.Loop() {
				NewMasker(secrets)
			}
		})
	}
}
