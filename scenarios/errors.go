package scenarios

import (
	"fmt"
	"sort"
	"strings"
)

// Error is one problem in a scenario file. It names the file, the position
// (Line and Column are 1-based; 0 when unknown), the field path such as
// "faults[1].duration" (empty for problems with the file as a whole), what is
// wrong, and a hint on how to fix it.
//
// Its text is "FILE:LINE:COL: FIELD: MESSAGE (hint: HINT)", with the parts that
// are unknown or empty left out.
type Error struct {
	File   string
	Line   int
	Column int
	Field  string
	Msg    string
	Hint   string
}

// Error formats e as "FILE:LINE:COL: FIELD: MESSAGE (hint: HINT)".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
		if e.Column > 0 {
			fmt.Fprintf(&b, ":%d", e.Column)
		}
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	if e.Hint != "" {
		fmt.Fprintf(&b, " (hint: %s)", e.Hint)
	}
	return b.String()
}

// Errors is every problem found in one scenario file, in file order. [Load]
// and [Parse] return a non-empty Errors when they fail; errors.As finds each
// [*Error] in it.
type Errors []*Error

// Error formats the list one [Error] per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns each [*Error] in the list, for errors.As and errors.Is.
func (es Errors) Unwrap() []error {
	errs := make([]error, len(es))
	for i, e := range es {
		errs[i] = e
	}
	return errs
}

// sortErrors puts es in file order, keeping the order of problems found at
// the same position.
func sortErrors(es Errors) {
	sort.SliceStable(es, func(i, j int) bool {
		if es[i].Line != es[j].Line {
			return es[i].Line < es[j].Line
		}
		return es[i].Column < es[j].Column
	})
}

// suggest returns a hint for a word that is not one of known: the closest
// known word when it is close enough to be a typo, else the list of known
// words.
func suggest(word string, known []string) string {
	best, bestDist := "", -1
	for _, k := range known {
		d := editDistance(strings.ToLower(word), k)
		if bestDist < 0 || d < bestDist {
			best, bestDist = k, d
		}
	}
	if bestDist >= 0 && bestDist <= max(1, min(len(word), len(best))/3) {
		return fmt.Sprintf("did you mean %q?", best)
	}
	return "expected one of " + strings.Join(known, ", ")
}

// editDistance is the Levenshtein distance between a and b, counted in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
