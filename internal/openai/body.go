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

// Body is the JSON of one streaming request.
func Body(api, model string, r Prompt) ([]byte, error) {
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
		Temperature   float64       `json:"temperature"`
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
	return json.Marshal(body)
}
