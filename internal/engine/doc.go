// Package engine starts and stops what is benchmarked: the embedded simulator
// or an external OpenAI-compatible endpoint.
package engine
