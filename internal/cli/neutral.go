package cli

import "io"

// zwsp is the zero-width space put between two colons (or two #) so that no
// text perfgate prints can be read by the Actions runner as a workflow
// command ("::error::", "::stop-commands::", "##[command]").
var zwsp = []byte("\u200b")

// neutralWriter makes what goes through it inert as workflow commands: the
// runner reads a line as a command when, after leading white space, it
// starts with "::" (or "##[" for the old form), and text from a pull
// request, an artifact or a server (an install's log tail, a headline, an
// error body) may be printed. perfgate's own commands (annotations, groups,
// outputs) go to the raw writer (Env.Commands) instead.
type neutralWriter struct {
	w    io.Writer
	last byte
}

func (n *neutralWriter) Write(p []byte) (int, error) {
	out := make([]byte, 0, len(p)+8)
	for _, b := range p {
		if (b == ':' || b == '#') && n.last == b {
			out = append(out, zwsp...)
		}
		out = append(out, b)
		n.last = b
	}
	if _, err := n.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}
