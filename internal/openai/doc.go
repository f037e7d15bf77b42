// Package openai is a streaming client for OpenAI-compatible servers
// (/v1/completions and /v1/chat/completions with SSE). It times every content
// chunk as it is read and turns every failure into an error class on the
// request's record.
package openai
