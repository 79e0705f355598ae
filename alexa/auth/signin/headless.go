package signin

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/alexarules/alexarules/alexa/auth"
)

// ReadCode is the sign-in without a proxy, for machines without a
// browser: it writes the sign-in URL and what to do with it to w, then
// reads the final /ap/maplanding URL the user pastes from r and returns
// its authorization code. Blank lines are skipped; the first other line
// must be the URL. When ctx ends first, ReadCode returns at once; the
// read of r it leaves behind ends with r.
func ReadCode(ctx context.Context, w io.Writer, r io.Reader, signInURL string) (string, error) {
	fmt.Fprintf(w, "open this URL in a browser and sign in:\n\n%s\n\n", signInURL)
	fmt.Fprintln(w, "the browser then ends on a page that does not load (…/ap/maplanding?…);")
	fmt.Fprintln(w, "paste that page's whole address here and press Enter:")
	type pasted struct {
		line string
		err  error
	}
	got := make(chan pasted, 1)
	go func() {
		l, err := pastedLine(r)
		got <- pasted{l, err}
	}()
	select {
	case p := <-got:
		if p.err != nil {
			return "", p.err
		}
		return auth.CodeFromURL(p.line)
	case <-ctx.Done():
		return "", fmt.Errorf("signin: waiting for the pasted address: %w", ctx.Err())
	}
}

// pastedLine is the first line of r that is not blank, trimmed.
func pastedLine(r io.Reader) (string, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			return l, nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("signin: reading the pasted address: %w", err)
	}
	return "", errors.New("signin: no address was pasted (end of input)")
}
