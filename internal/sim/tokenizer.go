package sim

import (
	"hash/fnv"
	"strconv"
	"strings"

	"github.com/perfgate/perfgate/internal/vocab"
)

// The simulator's toy tokenizer: one token per whitespace-separated word.
//
//   - ids 0–3 are special: <pad>, <s> (BOS, added to text prompts as vLLM
//     does for Llama), </s>, and a chat-template marker;
//   - the next ids are the English words perfgate's text prompts are built
//     from, in order, so those prompts map to ids and back exactly;
//   - a word of the form tok<N> is id N;
//   - any other word hashes into the remaining ids, and detokenizes as tok<N>.
//
// Generated text is made of the same English words, so /detokenize of
// /tokenize of any output gives it back.
const (
	PAD       = 0
	BOS       = 1
	EOS       = 2
	ChatMark  = 3
	VocabSize = 32000
)

var (
	words     = vocab.Words()
	firstWord = 4
	wordID    = func() map[string]int {
		m := make(map[string]int, len(words))
		for i, w := range words {
			m[w] = firstWord + i
		}
		return m
	}()
	specials = []string{"<pad>", "<s>", "</s>", "<|chat|>"}
)

// Tokenize maps text to ids.
func Tokenize(text string) []int {
	fields := strings.Fields(text)
	ids := make([]int, len(fields))
	for i, w := range fields {
		ids[i] = wordToID(w)
	}
	return ids
}

func wordToID(w string) int {
	if id, ok := wordID[w]; ok {
		return id
	}
	for i, s := range specials {
		if w == s {
			return i
		}
	}
	if n, ok := strings.CutPrefix(w, "tok"); ok {
		if id, err := strconv.Atoi(n); err == nil && id >= 0 && id < VocabSize && "tok"+strconv.Itoa(id) == w {
			return id
		}
	}
	h := fnv.New32a()
	h.Write([]byte(w))
	lo := firstWord + len(words)
	return lo + int(h.Sum32()%uint32(VocabSize-lo))
}

// Detokenize maps ids to text, words separated by single spaces.
func Detokenize(ids []int) string {
	var b strings.Builder
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(idToWord(id))
	}
	return b.String()
}

func idToWord(id int) string {
	switch {
	case id >= 0 && id < len(specials):
		return specials[id]
	case id >= firstWord && id < firstWord+len(words):
		return words[id-firstWord]
	}
	return "tok" + strconv.Itoa(id)
}

// Message is one chat message.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// chatTemplate renders messages the way a chat template would: BOS, then
// per message a marker, the role, the content and an end token, then the
// marker and role that start the assistant's answer.
func chatTemplate(msgs []Message) []int {
	ids := []int{BOS}
	for _, m := range msgs {
		ids = append(ids, ChatMark, wordToID(m.Role))
		ids = append(ids, Tokenize(m.Content)...)
		ids = append(ids, EOS)
	}
	return append(ids, ChatMark, wordToID("assistant"))
}

// TokenText is the i-th generated token of request id: a space and a word.
func TokenText(id int64, i int) string {
	return " " + words[(int(id)*31+i*7)%len(words)]
}
