package strictjson

import (
	"fmt"
	"strings"
)

// suggest is the tail of an unknown-key message: the known keys closest
// to key ("; did you mean \"stride\"?"), or all of them when none is
// close.
func suggest(key string, fields []field) string {
	if len(fields) == 0 {
		return " (this object takes no fields)"
	}
	limit := max(1, min(3, len([]rune(key))/3))
	best, bestD := []string(nil), limit+1
	for _, f := range fields {
		d := distance(strings.ToLower(key), strings.ToLower(f.name))
		switch {
		case d < bestD:
			best, bestD = []string{f.name}, d
		case d == bestD:
			best = append(best, f.name)
		}
	}
	if best != nil {
		return fmt.Sprintf("; did you mean %s?", quoteList(best, " or "))
	}
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.name
	}
	return "; known fields: " + strings.Join(names, ", ")
}

func quoteList(names []string, sep string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, sep)
}

// distance is the Levenshtein distance between a and b, counted in runes,
// with a swap of two neighbours counting as one edit.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
