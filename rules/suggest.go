package rules

import (
	"fmt"
	"sort"
	"strings"
)

// didYouMean returns ` (did you mean "x"?)` for the known name nearest to
// got, when one is near enough to be a typo; otherwise it lists the known
// names.
func didYouMean(got string, known []string) string {
	best, bestD := "", 1<<30
	lower := strings.ToLower(got)
	for _, k := range known {
		kl := strings.ToLower(k)
		if len(lower) >= 2 && strings.HasPrefix(kl, lower) {
			return fmt.Sprintf(" (did you mean %q?)", k)
		}
		if d := editDistance(lower, kl); d < bestD {
			best, bestD = k, d
		}
	}
	if best != "" && bestD <= max(1, len(got)/3) {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	sorted := append([]string(nil), known...)
	sort.Strings(sorted)
	return " (known: " + strings.Join(sorted, ", ") + ")"
}

// editDistance is the optimal string alignment distance: insertions,
// deletions, substitutions and swaps of neighbours ("mdoe" → "mode") each
// cost one.
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
