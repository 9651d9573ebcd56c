package security

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// The benchmarks of masking, with their baseline, a plain bytes.Index
// scan for one secret, measured in the same run:
//
//	go test -run '^$' -bench 'Mask|Index' -benchmem ./security/

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

// indexScan is the baseline: one bytes.Index scan of obs for a secret
// that is not there.
func indexScan(b *testing.B, obs []byte) {
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

// reportPerByte reports the ns a byte of the benchmark's loop over n
// bytes and, when baseline is set, its ratio to the ns a byte of a
// bytes.Index scan of baseline for a secret not there, timed now.
func reportPerByte(b *testing.B, n int, baseline []byte) {
	perByte := float64(b.Elapsed().Nanoseconds()) / float64(b.N) / float64(n)
	b.ReportMetric(perByte, "ns/byte")
	if baseline == nil {
		return
	}
	secret := []byte("tok-" + strings.Repeat("Z", 32))
	runs, at := max(b.N, 200), 0
	start := time.Now()
	for range runs {
		at = bytes.Index(baseline, secret)
	}
	base := float64(time.Since(start).Nanoseconds()) / float64(runs) / float64(len(baseline))
	if at != -1 {
		b.Fatal("found")
	}
	b.ReportMetric(perByte/base, "x-index")
}

// BenchmarkIndexOneSecret is the baseline on its own: one bytes.Index
// scan of the 1 MiB observation.
func BenchmarkIndexOneSecret(b *testing.B) {
	obs := benchObservation(benchSecrets(1000))
	indexScan(b, obs)
	reportPerByte(b, len(obs), nil)
}

// BenchmarkMask1MiB1000Secrets masks a 1 MiB observation with 1,000
// secrets, some of which it holds; x-index is its ratio to a bytes.Index
// scan of the same observation for one secret, timed after it.
func BenchmarkMask1MiB1000Secrets(b *testing.B) {
	secrets := benchSecrets(1000)
	data := benchObservation(secrets)
	obs := string(data)
	m := NewMasker(secrets)
	if m.Mask(obs) == obs {
		b.Fatal("nothing masked")
	}
	b.SetBytes(int64(len(obs)))
	for b.Loop() {
		m.Mask(obs)
	}
	reportPerByte(b, len(obs), data)
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
	reportPerByte(b, len(data), obs)
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
