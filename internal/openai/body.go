package openai

import (
	"encoding/json"
)

// Prompt is what one request asks: a text, token ids, or a conversation
// (user, assistant, user, …), and how many tokens to generate.
type Prompt struct {
	Text         string
	IDs          []int
	Messages     []string
	OutputTokens int
}

// Fields is extra request fields as a JSON fragment to splice into every
// body (Body's extra): made once, keys sorted; nil for none.
func Fields(fields map[string]any) ([]byte, error) {
	if len(fields) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(fields) // json sorts a map's keys
	if err != nil {
		return nil, err
	}
	return b[1 : len(b)-1], nil
}

// Body is the JSON of one streaming request, with extra (from Fields:
// sampling parameters, an extra body) spliced in. perfgate sends no
// sampling parameter of its own: the server's defaults apply unless the
// scenario says.
func Body(api, model string, r Prompt, extra []byte) ([]byte, error) {
	type streamOptions struct {
		IncludeUsage bool `json:"include_usage"`
	}
	type message struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	}
	body := struct {
		Model         string        `json:"model"`
		Prompt        any           `json:"prompt,omitempty"`
		Messages      []message     `json:"messages,omitempty"`
		MaxTokens     int           `json:"max_tokens"`
		IgnoreEOS     bool          `json:"ignore_eos"`
		Stream        bool          `json:"stream"`
		StreamOptions streamOptions `json:"stream_options"`
	}{
		Model:         model,
		MaxTokens:     r.OutputTokens,
		IgnoreEOS:     true,
		Stream:        true,
		StreamOptions: streamOptions{IncludeUsage: true},
	}
	switch {
	case api == "chat" && len(r.Messages) > 0:
		for i, m := range r.Messages {
			role := "user"
			if i%2 == 1 {
				role = "assistant"
			}
			body.Messages = append(body.Messages, message{Role: role, Content: m})
		}
	case api == "chat":
		body.Messages = []message{{Role: "user", Content: r.Text}}
	case r.IDs != nil:
		body.Prompt = r.IDs
	default:
		body.Prompt = r.Text
	}
	b, err := json.Marshal(body)
	if err != nil || len(extra) == 0 {
		return b, err
	}
	out := make([]byte, 0, len(b)+len(extra)+1)
	out = append(out, b[:len(b)-1]...)
	out = append(out, ',')
	out = append(out, extra...)
	return append(out, '}'), nil
}
