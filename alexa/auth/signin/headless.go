package signin

import (
	"bufio"
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
// must be the URL.
func ReadCode(w io.Writer, r io.Reader, signInURL string) (string, error) {
	fmt.Fprintf(w, "open this URL in a browser and sign in:\n\n%s\n\n", signInURL)
	fmt.Fprintln(w, "the browser then ends on a page that does not load (…/ap/maplanding?…);")
	fmt.Fprintln(w, "paste that page's whole address here and press Enter:")
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		return auth.CodeFromURL(line)
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("signin: reading the pasted address: %w", err)
	}
	return "", errors.New("signin: no address was pasted (end of input)")
}
